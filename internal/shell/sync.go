package shell

import (
	"io"
	"sync"
)

// syncWriter serializes the writes of a program's two output streams, which
// os/exec copies from two goroutines, into writers they share.
type syncWriter struct{ mu sync.Mutex }

func (s *syncWriter) wrap(w io.Writer) io.Writer { return lockedWriter{s, w} }

type lockedWriter struct {
	s *syncWriter
	w io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return l.w.Write(p)
}

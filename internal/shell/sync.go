package shell

import (
	"bytes"
	"io"
	"sync"
)

// Serialized wraps each of ws so that no two writes through them run at
// once: a program's stdout and stderr, which os/exec copies from two
// goroutines, into writers they share (a log, a buffer).
func Serialized(ws ...io.Writer) []io.Writer {
	s := &syncWriter{}
	out := make([]io.Writer, len(ws))
	for i, w := range ws {
		out[i] = s.wrap(w)
	}
	return out
}

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

// Capped is a buffer that keeps the first Max bytes written to it (64 KiB
// when Max is 0) and drops the rest without failing the writer: what a
// program prints, kept in memory however much it prints. It is safe for
// concurrent use.
type Capped struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *Capped) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.Max
	if limit == 0 {
		limit = 64 << 10
	}
	if room := limit - c.buf.Len(); room > 0 {
		c.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

// String returns what was kept.
func (c *Capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

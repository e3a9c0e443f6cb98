package infofile

import (
	"bytes"
	"time"
)

// Settle is how long an info file that parses but whose last line has no
// newline yet must stay the same before it counts as written: its server
// may still be writing the last digits of proj_id.
const Settle = 250 * time.Millisecond

// Follower watches the info file a server is writing, to tell when it is
// complete. The exercise's servers need not write it atomically, as
// isolab's does: course code creates the file, then writes its lines, so a
// reader can find it empty or half written. A file is complete when it
// holds four lines, each ended by its newline (then it is parsed, and a
// malformed one is an error: the server wrote it wrong), or four lines
// that parse, the last without its newline, unchanged for Settle or
// once the server has ended.
type Follower struct {
	path  string
	last  []byte    // the last partial content seen
	since time.Time // when it was first seen
}

// Follow returns a Follower of the info file at path.
func Follow(path string) *Follower { return &Follower{path: path} }

// Complete reads the file once and reports whether it is complete, with
// what it holds; ended says the server has exited, so the file can no
// longer change. err is a complete file that does not parse, or a file
// that cannot be read.
func (f *Follower) Complete(ended bool) (info Info, ok bool, err error) {
	data, skip, err := readRaw(f.path)
	switch {
	case err != nil:
		return Info{}, true, err
	case skip:
		return Info{}, false, nil
	case bytes.Count(data, []byte("\n")) >= 4 || len(data) > MaxFileSize:
		info, err := Parse(data)
		return info, true, err
	}
	info, perr := Parse(data)
	if perr != nil {
		return Info{}, false, nil // still being written
	}
	if ended {
		return info, true, nil
	}
	if !bytes.Equal(data, f.last) {
		f.last, f.since = bytes.Clone(data), time.Now()
		return Info{}, false, nil
	}
	return info, time.Since(f.since) >= Settle, nil
}

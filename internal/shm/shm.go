package shm

import (
	"bytes"
	"fmt"
)

// Size is the exercise's SHARED_MEMORY_SIZE: every server's segment is this big.
const Size = 4096

// Key is a System V IPC key as returned by ftok(3).
type Key int32

// String prints the key the way ipcs(1) does.
func (k Key) String() string { return fmt.Sprintf("0x%08x", uint32(k)) }

// KeyOf is glibc's ftok(3) formula over a file's device and inode numbers:
// (proj_id&0xff)<<24 | (st_dev&0xff)<<16 | (st_ino&0xffff).
func KeyOf(dev, ino uint64, projID int) Key {
	return Key(uint32(projID&0xff)<<24 | uint32(dev&0xff)<<16 | uint32(ino&0xffff))
}

// Message returns the text at the start of a segment: the bytes before the first
// NUL, or the whole segment when a writer left no NUL.
func Message(seg []byte) string {
	if i := bytes.IndexByte(seg, 0); i >= 0 {
		seg = seg[:i]
	}
	return string(seg)
}

// Put writes msg and a terminating NUL at the start of seg.
func Put(seg []byte, msg string) error {
	if len(msg)+1 > len(seg) {
		return fmt.Errorf("message of %d bytes does not fit a %d-byte segment with its NUL", len(msg), len(seg))
	}
	copy(seg, msg)
	seg[len(msg)] = 0
	return nil
}

// Read attaches the segment with key read-only, as a client does, and
// returns its Message; it never makes a segment.
func Read(key Key) (string, error) {
	id, err := Lookup(key)
	if err != nil {
		return "", err
	}
	seg, err := Attach(id, true)
	if err != nil {
		return "", err
	}
	msg := Message(seg)
	return msg, Detach(seg)
}

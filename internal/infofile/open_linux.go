package infofile

import "golang.org/x/sys/unix"

// The file may be swapped for a symlink or FIFO between listing and opening.
const (
	syscallNoFollow = unix.O_NOFOLLOW
	syscallNonBlock = unix.O_NONBLOCK
)

package sandbox

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MountDisk mounts a tmpfs of size (as mount(8) spells it: "256m") on dir,
// named name in mountinfo: the bounded disk of a sandbox's writable
// directory, so that code that fills its directory fills only this. It
// first detaches what a killed run left mounted there (UnmountAll).
func MountDisk(name, dir, size string) error {
	UnmountAll(dir)
	if err := unix.Mount(name, dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size="+size+",mode=0755"); err != nil {
		return fmt.Errorf("mount a %s tmpfs on %s: %w", size, dir, os.NewSyscallError("mount", err))
	}
	return nil
}

// UnmountAll detaches whatever is mounted on dir, as often as it is.
func UnmountAll(dir string) {
	for unix.Unmount(dir, unix.MNT_DETACH) == nil {
	}
}

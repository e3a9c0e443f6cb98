package shm

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Ftok wraps stat(2) and computes ftok(3)'s key for path and projID.
func Ftok(path string, projID int) (Key, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "ftok", Path: path, Err: err}
	}
	return KeyOf(st.Dev, st.Ino, projID), nil
}

// Create wraps shmget(2) with IPC_CREAT|IPC_EXCL: it makes a new segment of
// size bytes with permissions perm and fails with EEXIST if the key is taken.
func Create(key Key, size int, perm os.FileMode) (int, error) {
	id, err := unix.SysvShmGet(int(key), size, unix.IPC_CREAT|unix.IPC_EXCL|int(perm.Perm()))
	if err != nil {
		return -1, os.NewSyscallError("shmget", err)
	}
	return id, nil
}

// Lookup wraps shmget(2) without IPC_CREAT and with size 0, so it finds an
// existing segment of any size and never makes one.
func Lookup(key Key) (int, error) {
	id, err := unix.SysvShmGet(int(key), 0, 0)
	if err != nil {
		return -1, os.NewSyscallError("shmget", err)
	}
	return id, nil
}

// Attach wraps shmat(2). With readOnly the mapping is SHM_RDONLY.
func Attach(id int, readOnly bool) ([]byte, error) {
	flag := 0
	if readOnly {
		flag = unix.SHM_RDONLY
	}
	b, err := unix.SysvShmAttach(id, 0, flag)
	if err != nil {
		return nil, os.NewSyscallError("shmat", err)
	}
	return b, nil
}

// Detach wraps shmdt(2).
func Detach(seg []byte) error {
	return os.NewSyscallError("shmdt", unix.SysvShmDetach(seg))
}

// Remove wraps shmctl(2) with IPC_RMID. The segment goes away once the last
// process detaches.
func Remove(id int) error {
	_, err := unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	return os.NewSyscallError("shmctl IPC_RMID", err)
}

// Stat wraps shmctl(2) with IPC_STAT.
func Stat(id int) (unix.SysvShmDesc, error) {
	var d unix.SysvShmDesc
	_, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d)
	return d, os.NewSyscallError("shmctl IPC_STAT", err)
}

// Chown wraps shmctl(2) with IPC_STAT, then IPC_SET: the segment's owner
// becomes uid and gid (as root, or as its owner).
func Chown(id, uid, gid int) error {
	d, err := Stat(id)
	if err != nil {
		return err
	}
	d.Perm.Uid, d.Perm.Gid = uint32(uid), uint32(gid)
	_, err = unix.SysvShmCtl(id, unix.IPC_SET, &d)
	return os.NewSyscallError("shmctl IPC_SET", err)
}

// HeldError says that a segment with the wanted key exists and cannot be
// reclaimed, and who holds it.
type HeldError struct {
	Key     Key
	ID      int
	Creator int32  // pid that created it, as seen from this pid namespace (0: not visible)
	Attach  uint64 // processes attached
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("segment %s (shmid %d) already exists, created by pid %d with %d attached; remove it with 'ipcrm -m %d' once that process is gone",
		e.Key, e.ID, e.Creator, e.Attach, e.ID)
}

func (e *HeldError) Unwrap() error { return unix.EEXIST }

// CreateReclaiming is Create that first removes a stale segment with the same
// key: one whose creator is gone and to which nobody is attached (a server that
// died without cleaning up). A segment still in use gives a *HeldError.
func CreateReclaiming(key Key, size int, perm os.FileMode) (int, error) {
	id, err := Create(key, size, perm)
	if !errors.Is(err, unix.EEXIST) {
		return id, err
	}
	old, lerr := Lookup(key)
	if lerr != nil {
		return -1, err
	}
	d, serr := Stat(old)
	if serr != nil {
		return -1, err
	}
	if d.Nattch > 0 || processAlive(d.Cpid) {
		return -1, &HeldError{Key: key, ID: old, Creator: d.Cpid, Attach: d.Nattch}
	}
	if err := Remove(old); err != nil {
		return -1, fmt.Errorf("reclaim stale segment %s: %w", key, err)
	}
	return Create(key, size, perm)
}

// processAlive reports whether pid names a live process. A creator in another
// pid namespace that shares this IPC namespace (docker --ipc=host) shows as 0:
// it may well be alive, so it counts as alive.
func processAlive(pid int32) bool {
	if pid <= 0 {
		return true
	}
	err := unix.Kill(int(pid), 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// AttachedByOther wraps shmctl(2) IPC_STAT and reports whether a process other
// than self has used the segment: someone is attached now (the caller must have
// detached itself), or the last attach or detach was not self's. shm_atime is no
// proof: the caller's own attach sets it too.
func AttachedByOther(id, self int) (bool, error) {
	d, err := Stat(id)
	if err != nil {
		return false, err
	}
	return d.Nattch > 0 || int(d.Lpid) != self, nil
}

package shm_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/shmtest"
	"golang.org/x/sys/unix"
)

// newKey returns the ftok key of a fresh file, so that no other test (or
// package) uses it, and removes any segment with that key when the test ends.
func newKey(t *testing.T, projID int) (shm.Key, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := shm.Ftok(p, projID)
	if err != nil {
		t.Fatalf("Ftok(%q, %d) = %v", p, projID, err)
	}
	if leakcheck.HasKey(int32(key)) {
		t.Skipf("segment key %v is already taken on this machine", key)
	}
	t.Cleanup(func() { removeKey(key) })
	return key, p
}

func removeKey(key shm.Key) {
	if id, err := shm.Lookup(key); err == nil {
		shm.Remove(id)
	}
}

func TestFtokMissingPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing")
	_, err := shm.Ftok(p, 1)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != p || !errors.Is(err, unix.ENOENT) {
		t.Errorf("Ftok(%q, 1) = %v, want a *PathError naming it with ENOENT", p, err)
	}
}

func TestSegmentLifecycle(t *testing.T) {
	leakcheck.Check(t)
	key, _ := newKey(t, 'L')

	if _, err := shm.Lookup(key); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Lookup(%v) before Create = %v, want ENOENT", key, err)
	}
	id, err := shm.Create(key, shm.Size, 0o644)
	if err != nil {
		t.Fatalf("Create(%v) = %v", key, err)
	}
	if _, err := shm.Create(key, shm.Size, 0o644); !errors.Is(err, unix.EEXIST) || !strings.Contains(err.Error(), "shmget") {
		t.Errorf("second Create(%v) = %v, want shmget's EEXIST", key, err)
	}
	if got, err := shm.Lookup(key); err != nil || got != id {
		t.Errorf("Lookup(%v) = %d, %v, want %d", key, got, err, id)
	}
	d, err := shm.Stat(id)
	if err != nil || d.Segsz != shm.Size || d.Perm.Mode&0o777 != 0o644 || int(d.Cpid) != os.Getpid() {
		t.Errorf("Stat(%d) = size %d mode %o cpid %d, %v; want %d, 0644, %d", id, d.Segsz, d.Perm.Mode&0o777, d.Cpid, err, shm.Size, os.Getpid())
	}

	rw, err := shm.Attach(id, false)
	if err != nil {
		t.Fatalf("Attach(%d, rw) = %v", id, err)
	}
	if err := shm.Put(rw, "hello"); err != nil {
		t.Fatal(err)
	}
	ro, err := shm.Attach(id, true)
	if err != nil {
		t.Fatalf("Attach(%d, read-only) = %v", id, err)
	}
	if got := shm.Message(ro); got != "hello" {
		t.Errorf("Message(read-only attachment) = %q, want %q", got, "hello")
	}
	if perms := shmtest.MappingPerms(t, key); !equalSorted(perms, []string{"r--s", "rw-s"}) {
		t.Errorf("mappings of %v in /proc/self/maps have perms %q, want one r--s (SHM_RDONLY) and one rw-s", key, perms)
	}
	if d, _ := shm.Stat(id); d.Nattch != 2 {
		t.Errorf("nattch = %d with two attachments", d.Nattch)
	}
	if err := errors.Join(shm.Detach(ro), shm.Detach(rw)); err != nil {
		t.Fatalf("Detach = %v", err)
	}
	if other, err := shm.AttachedByOther(id, os.Getpid()); err != nil || other {
		t.Errorf("AttachedByOther(%d, self) after only our own attaches = %v, %v, want false", id, other, err)
	}
	if got := shmtest.AttachFromChild(t, id); got != "hello" {
		t.Errorf("child read %q, want %q", got, "hello")
	}
	if other, err := shm.AttachedByOther(id, os.Getpid()); err != nil || !other {
		t.Errorf("AttachedByOther(%d, self) after a child attached = %v, %v, want true", id, other, err)
	}
	if err := shm.Remove(id); err != nil {
		t.Fatalf("Remove(%d) = %v", id, err)
	}
	if _, err := shm.Lookup(key); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Lookup(%v) after Remove = %v, want ENOENT", key, err)
	}
	if err := shm.Remove(id); !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EIDRM) {
		t.Errorf("second Remove(%d) = %v, want EINVAL", id, err)
	}
}

// TestMessageWithoutNUL reads a segment that a writer filled to the end, and one
// of another size (a C++ server's), through Lookup's size 0.
func TestMessageWithoutNUL(t *testing.T) {
	leakcheck.Check(t)
	for _, size := range []int{shm.Size, 100} {
		key, _ := newKey(t, 'N')
		id, err := shm.Create(key, size, 0o644)
		if err != nil {
			t.Fatalf("Create(%v, %d) = %v", key, size, err)
		}
		rw, err := shm.Attach(id, false)
		if err != nil {
			t.Fatal(err)
		}
		copy(rw, bytes.Repeat([]byte{'x'}, size))
		shm.Detach(rw)

		// Read attaches through Lookup's size 0, read-only, as a client does.
		if got, err := shm.Read(key); err != nil || got != strings.Repeat("x", size) {
			t.Errorf("Read(%d-byte segment without NUL) = %d bytes, %v, want %d", size, len(got), err, size)
		}
		shm.Remove(id)
	}
}

func TestCreateReclaimingStale(t *testing.T) {
	c := leakcheck.Check(t)
	key, _ := newKey(t, 'S')
	old := shmtest.CreateStale(t, key, "stale")
	d, err := shm.Stat(old)
	if err != nil {
		t.Fatal(err)
	}
	c.Own(int(d.Cpid))

	id, err := shm.CreateReclaiming(key, shm.Size, 0o644)
	if err != nil {
		t.Fatalf("CreateReclaiming(%v) over a stale segment = %v, want it reclaimed", key, err)
	}
	defer shm.Remove(id)
	if id == old {
		t.Errorf("CreateReclaiming returned the stale shmid %d", old)
	}
	if _, err := shm.Stat(old); err == nil {
		t.Errorf("stale segment %d still exists", old)
	}
	seg, err := shm.Attach(id, true)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Detach(seg)
	if got := shm.Message(seg); got != "" {
		t.Errorf("reclaimed segment holds %q, want a fresh one", got)
	}
}

func TestCreateReclaimingHeld(t *testing.T) {
	c := leakcheck.Check(t)

	t.Run("creator alive", func(t *testing.T) {
		key, _ := newKey(t, 'H')
		id, err := shm.Create(key, shm.Size, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		_, err = shm.CreateReclaiming(key, shm.Size, 0o644)
		checkHeld(t, err, key, id, os.Getpid(), 0)
	})

	t.Run("creator gone, still attached", func(t *testing.T) {
		key, _ := newKey(t, 'A')
		id := shmtest.CreateStale(t, key, "in use")
		d, err := shm.Stat(id)
		if err != nil {
			t.Fatal(err)
		}
		c.Own(int(d.Cpid))
		seg, err := shm.Attach(id, true)
		if err != nil {
			t.Fatal(err)
		}
		defer shm.Detach(seg)
		_, err = shm.CreateReclaiming(key, shm.Size, 0o644)
		checkHeld(t, err, key, id, int(d.Cpid), 1)
		if got := shm.Message(seg); got != "in use" {
			t.Errorf("held segment now holds %q, want it untouched", got)
		}
	})
}

func checkHeld(t *testing.T, err error, key shm.Key, id, pid, nattch int) {
	t.Helper()
	var held *shm.HeldError
	if !errors.As(err, &held) {
		t.Fatalf("CreateReclaiming(%v) = %v, want a *HeldError", key, err)
	}
	if held.ID != id || int(held.Creator) != pid || int(held.Attach) != nattch || !errors.Is(err, unix.EEXIST) {
		t.Errorf("HeldError = %+v, want shmid %d, creator %d, %d attached, wrapping EEXIST", *held, id, pid, nattch)
	}
	for _, want := range []string{"pid " + strconv.Itoa(pid), key.String(), fmt.Sprintf("ipcrm -m %d", id)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func equalSorted(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range b {
		found := false
		for i, y := range a {
			if x == y {
				a = append(a[:i:i], a[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Chown hands a segment to another owner, keeping its mode.
func TestChown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a segment away needs root")
	}
	leakcheck.Check(t)
	key, _ := newKey(t, 'O')
	id, err := shm.Create(key, shm.Size, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Remove(id)
	if err := shm.Chown(id, 1234567, 1234568); err != nil {
		t.Fatal(err)
	}
	d, err := shm.Stat(id)
	if err != nil || d.Perm.Uid != 1234567 || d.Perm.Gid != 1234568 || d.Perm.Mode&0o777 != 0o644 {
		t.Errorf("after Chown: uid %d gid %d mode %o, %v; want 1234567, 1234568, 0644", d.Perm.Uid, d.Perm.Gid, d.Perm.Mode&0o777, err)
	}
	if err := shm.Chown(-1, 0, 0); err == nil {
		t.Error("Chown of no segment = nil error")
	}
}

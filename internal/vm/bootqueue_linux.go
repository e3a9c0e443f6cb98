package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// VarBoots names the variable that sets how many guests may boot at once on
// this machine (default: its number of cores).
const VarBoots = "LAB_VM_BOOTS"

// bootQueueDir holds the boot slots, one lock file each, and the queue, one
// file per waiting guest. It is machine-wide: every process that boots
// guests (go test runs packages as separate processes; a lab and a test may
// run side by side) takes its slots here. /run/lock is a tmpfs, so a reboot
// empties it.
func bootQueueDir() string {
	if st, err := os.Stat("/run/lock"); err == nil && st.IsDir() {
		return "/run/lock/isolab-vm-boot"
	}
	return filepath.Join(os.TempDir(), "isolab-vm-boot")
}

// BootSlots is how many guests may boot at once: $LAB_VM_BOOTS, else the
// number of cores. Under TCG a booting guest keeps one core busy, so more at
// once only makes each slower, until fixed waits run out.
func BootSlots() int {
	if n, err := strconv.Atoi(os.Getenv(VarBoots)); err == nil && n > 0 {
		return n
	}
	return runtime.NumCPU()
}

// bootSlot is a slot held: an open, flock(2)-ed slot file. The lock goes
// with the process, so a killed process frees its slots.
type bootSlot struct{ f *os.File }

var waitSeq atomic.Int64

// acquireBootSlot takes a free one of the machine's boot slots (see
// takeBootSlot).
func acquireBootSlot(ctx context.Context, name string, logf func(string, ...any)) (*bootSlot, error) {
	return takeBootSlot(ctx, bootQueueDir(), BootSlots(), name, logf)
}

// takeBootSlot takes a free one of the slots in dir, waiting in the queue
// while all are held; logf says so once, and again when the slot comes.
func takeBootSlot(ctx context.Context, dir string, slots int, name string, logf func(string, ...any)) (*bootSlot, error) {
	if err := os.MkdirAll(filepath.Join(dir, "waiting"), 0o755); err != nil {
		return nil, fmt.Errorf("boot queue: %w", err)
	}
	// Shared by every user who boots guests here, as /tmp is.
	os.Chmod(dir, 0o777|os.ModeSticky)
	os.Chmod(filepath.Join(dir, "waiting"), 0o777|os.ModeSticky)
	if s, err := trySlots(dir, slots); s != nil || err != nil {
		return s, err
	}
	me := filepath.Join(dir, "waiting", fmt.Sprintf("%d.%d", os.Getpid(), waitSeq.Add(1)))
	if err := os.WriteFile(me, nil, 0o644); err != nil {
		return nil, fmt.Errorf("boot queue: %w", err)
	}
	defer os.Remove(me)
	start := time.Now()
	logf("vm: %d guests queued behind %d booting (%s=%d)", waiting(dir), slots, VarBoots, slots)
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a boot slot: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if s, err := trySlots(dir, slots); s != nil || err != nil {
			if s != nil {
				logf("vm: %s boots after %s in the queue", name, time.Since(start).Round(100*time.Millisecond))
			}
			return s, err
		}
	}
}

// trySlots takes the first free slot of n, or returns nil when all are held.
func trySlots(dir string, n int) (*bootSlot, error) {
	for i := range n {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("slot.%d", i)), os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("boot queue: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
			return &bootSlot{f: f}, nil
		}
		f.Close()
	}
	return nil, nil
}

// waiting counts the guests in the queue, removing entries of processes
// that are gone.
func waiting(dir string) int {
	des, _ := os.ReadDir(filepath.Join(dir, "waiting"))
	n := 0
	for _, de := range des {
		pid, _, _ := strings.Cut(de.Name(), ".")
		if _, err := os.Stat("/proc/" + pid); err != nil {
			os.Remove(filepath.Join(dir, "waiting", de.Name()))
			continue
		}
		n++
	}
	return n
}

// release frees the slot; releasing nil or twice is fine.
func (s *bootSlot) release() {
	if s != nil && s.f != nil {
		s.f.Close() // closing the last descriptor drops the flock
		s.f = nil
	}
}

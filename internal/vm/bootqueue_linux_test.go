package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/stress"
)

// TestMain lets the boot queue test run this test binary as a second process
// that holds a boot slot: another process, as go test's packages are.
func TestMain(m *testing.M) {
	if dir := os.Getenv("VM_TEST_HOLD_SLOT"); dir != "" {
		s, err := takeBootSlot(context.Background(), dir, 1, "holder", func(string, ...any) {})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("holding")
		os.Stdin.Read(make([]byte, 1)) // until the test closes our stdin
		s.release()
		os.Exit(0)
	}
	os.Exit(stress.Run(m))
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, fmt.Sprintf(format, args...))
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.l, "\n")
}

// A slot held by another process makes a guest wait its turn, says so, and
// is free again once that process is gone.
func TestBootQueueAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), "VM_TEST_HOLD_SLOT="+dir)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	buf := make([]byte, 64)
	if n, _ := stdout.Read(buf); !strings.Contains(string(buf[:n]), "holding") {
		stdin.Close()
		t.Fatalf("the holder process said %q", buf[:n])
	}
	var log lines
	got := make(chan *bootSlot)
	go func() {
		s, err := takeBootSlot(context.Background(), dir, 1, "vm1", log.logf)
		if err != nil {
			t.Error(err)
		}
		got <- s
	}()
	// It waits, and says so, however long it takes to get there.
	for want := "vm: 1 guests queued behind 1 booting (LAB_VM_BOOTS=1)"; !strings.Contains(log.String(), want); {
		select {
		case s := <-got:
			s.release()
			t.Fatalf("took the only slot while another process held it (queue said %q)", log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	stdin.Close() // the holder releases its slot and exits
	select {
	case s := <-got:
		s.release()
	case <-time.After(10 * time.Second):
		t.Fatal("no slot 10 s after the other process let its slot go")
	}
	if !strings.Contains(log.String(), "vm: vm1 boots after") {
		t.Errorf("queue said %q, want a line when the slot came", log.String())
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "waiting")); len(left) != 0 {
		t.Errorf("queue entries left: %v", left)
	}
}

// Within one process, n slots let n guests through at once, and the next
// one waits until a slot is released; a cancelled wait leaves the queue.
func TestBootQueueSlots(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	quiet := func(string, ...any) {}
	a, err := takeBootSlot(ctx, dir, 2, "a", quiet)
	if err != nil {
		t.Fatal(err)
	}
	b, err := takeBootSlot(ctx, dir, 2, "b", quiet)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if s, err := takeBootSlot(short, dir, 2, "c", quiet); err == nil {
		s.release()
		t.Fatal("a third guest took one of two slots")
	}
	a.release()
	a.release() // twice is fine
	c, err := takeBootSlot(ctx, dir, 2, "c", quiet)
	if err != nil {
		t.Fatal(err)
	}
	b.release()
	c.release()
	if left, _ := os.ReadDir(filepath.Join(dir, "waiting")); len(left) != 0 {
		t.Errorf("queue entries left: %v", left)
	}
}

func TestBootSlots(t *testing.T) {
	t.Setenv(VarBoots, "3")
	if got := BootSlots(); got != 3 {
		t.Errorf("BootSlots() with %s=3 = %d", VarBoots, got)
	}
	t.Setenv(VarBoots, "zero")
	if got := BootSlots(); got < 1 {
		t.Errorf("BootSlots() with %s=zero = %d, want the number of cores", VarBoots, got)
	}
}

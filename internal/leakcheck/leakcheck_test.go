package leakcheck_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/shm"
)

// recorder is a testing.TB that keeps its errors and runs its cleanups on demand.
type recorder struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (r *recorder) Helper()                   {}
func (r *recorder) Cleanup(f func())          { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }
func (r *recorder) Fatalf(f string, a ...any) { r.TB.Fatalf(f, a...) }
func (r *recorder) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestCheckFindsLeaks(t *testing.T) {
	defer func(s time.Duration) { leakcheck.Settle = s }(leakcheck.Settle)
	leakcheck.Settle = 50 * time.Millisecond

	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := shm.Ftok(p, 'K')
	if err != nil {
		t.Fatal(err)
	}

	r := &recorder{TB: t}
	leakcheck.Check(r)
	id, err := shm.Create(key, shm.Size, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Remove(id)
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if !leakcheck.HasKey(int32(key)) {
		t.Errorf("HasKey(%v) = false for a segment just made", key)
	}
	r.finish()
	all := strings.Join(r.errs, "\n")
	for _, want := range []string{fmt.Sprintf("segment key %v shmid %d", key, id), fmt.Sprintf("child process %d (sleep 60)", cmd.Process.Pid)} {
		if !strings.Contains(all, want) {
			t.Errorf("leak report %q does not say %q", all, want)
		}
	}

	// Once released, the same check passes.
	shm.Remove(id)
	r = &recorder{TB: t}
	leakcheck.Check(r)
	id2, err := shm.Create(key, shm.Size, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	shm.Remove(id2)
	r.finish()
	if len(r.errs) > 0 {
		t.Errorf("check after release reported %q", r.errs)
	}
}

func TestPortFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	r := &recorder{TB: t}
	leakcheck.PortFree(r, port)
	if len(r.errs) != 1 {
		t.Errorf("PortFree(%d) on a listening port reported %q, want one error", port, r.errs)
	}
	l.Close()
	r = &recorder{TB: t}
	leakcheck.PortFree(r, port)
	if len(r.errs) != 0 {
		t.Errorf("PortFree(%d) on a closed port reported %q", port, r.errs)
	}
}

package procfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		line string
		want Stat
	}{
		{"42 (sh) S 1 42 42 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 1 0 9876 1000 100", Stat{PID: 42, Comm: "sh", State: 'S', PPID: 1, PGRP: 42, Session: 42, UTime: 7, STime: 3, StartTime: 9876}},
		// A name may hold spaces and parentheses: it ends at the last ')'.
		{"7 (a) b (c)) Z 2 3 4 0 -1 0 0 0 0 0 11 12 0 0 20 0 1 0 5 0 0", Stat{PID: 7, Comm: "a) b (c)", State: 'Z', PPID: 2, PGRP: 3, Session: 4, UTime: 11, STime: 12, StartTime: 5}},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.line))
		if err != nil || got != tt.want {
			t.Errorf("parseStat(%q) = %+v, %v, want %+v", tt.line, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "1 sh S", "1 (sh) S 1 2", "1 (sh) S 1 42 42 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 1"} {
		if got, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/x\134y`: `/x\y`, `/short\04`: `/short\04`} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux's /proc")
	}
	pid := os.Getpid()
	st, err := ReadStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != pid || st.PPID != os.Getppid() || st.Zombie() {
		t.Errorf("ReadStat(self) = %+v, want pid %d, parent %d, alive", st, pid, os.Getppid())
	}
	if !Live(pid) || Live(0) {
		t.Errorf("Live(self) = %v, Live(0) = %v, want true, false", Live(pid), Live(0))
	}
	if uid, err := RealUID(pid); err != nil || uid != os.Getuid() {
		t.Errorf("RealUID(self) = %d, %v, want %d", uid, err, os.Getuid())
	}
	if argv := Cmdline(pid); len(argv) == 0 || filepath.Base(argv[0]) != filepath.Base(os.Args[0]) {
		t.Errorf("Cmdline(self) = %q, want %q first", argv, os.Args[0])
	}
	if !slices.Contains(PIDs(), pid) {
		t.Errorf("PIDs() lacks this process, %d", pid)
	}
	ms, err := Mounts("/proc/self/mountinfo")
	if err != nil || !slices.ContainsFunc(ms, func(m Mount) bool { return m.Point == "/" }) {
		t.Errorf("Mounts(/proc/self/mountinfo) = %d mounts, %v, want / among them", len(ms), err)
	}
}

// A child that has exited and is not yet waited for is a zombie: not Live,
// and its command line is gone.
func TestZombie(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux's /proc")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	for i := 0; i < 500; i++ {
		if st, err := ReadStat(pid); err == nil && st.Zombie() {
			if Live(pid) || Cmdline(pid) != nil {
				t.Errorf("zombie %d: Live = %v, Cmdline = %q, want false, nil", pid, Live(pid), Cmdline(pid))
			}
			return
		}
		exec.Command("sleep", "0.01").Run()
	}
	t.Fatalf("child %d never became a zombie", pid)
}

// A process that loops is runnable for about as long as it ran, whatever
// its share of the CPUs; one that sleeps is not.
func TestRunnable(t *testing.T) {
	spin := exec.Command("sh", "-c", "while :; do :; done")
	sleep := exec.Command("sleep", "10")
	for _, c := range []*exec.Cmd{spin, sleep} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { c.Process.Kill(); c.Wait() }()
	}
	time.Sleep(500 * time.Millisecond)
	spun, ok1 := Runnable(spin.Process.Pid)
	slept, ok2 := Runnable(sleep.Process.Pid)
	if !ok1 || !ok2 {
		t.Fatalf("Runnable: %v, %v; want both found", ok1, ok2)
	}
	if spun < 400*time.Millisecond || slept > 100*time.Millisecond {
		t.Errorf("runnable: a loop %s, a sleep %s in 500ms; want about 500ms and about 0", spun, slept)
	}
	spin.Process.Kill()
	spin.Wait()
	if _, ok := Runnable(spin.Process.Pid); ok {
		t.Error("Runnable found a process that was reaped")
	}
}

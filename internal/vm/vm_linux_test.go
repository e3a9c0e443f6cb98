package vm

import (
	"bufio"
	"context"
	"errors"
	"github.com/isolab/isolab/internal/procfs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/gobuild"
)

// vmEnv is what a test needs to boot a guest: the image built from this
// tree's recipe, a shared directory with the server binary on it and a run
// directory.
type vmEnv struct {
	img    Image
	shared string
	server string // on shared
	run    string
	prefix []string // an empty network namespace for QEMU, where the test has a route out
}

// newVMEnv skips tb, with the cause and the fix, unless a guest can boot here,
// building or refreshing the cached image in lab/vm/image when needed (about
// 30 s, as root).
func newVMEnv(tb testing.TB) *vmEnv {
	tb.Helper()
	if testing.Short() {
		tb.Skip("boots a VM (drop -short)")
	}
	for _, need := range [][2]string{{"qemu-system-x86_64", "qemu-system-x86"}} {
		if _, err := exec.LookPath(need[0]); err != nil {
			tb.Skipf("%s not found (try: apt-get install %s)", need[0], need[1])
		}
	}
	env := &vmEnv{}
	// Network rule: a guest runs inside a network namespace without a route
	// out. Where the test runs with one, QEMU gets a new, empty namespace.
	route, err := defaultRoute()
	if err != nil {
		tb.Fatal(err)
	}
	if route != "" {
		if os.Geteuid() != 0 {
			tb.Skipf("this network namespace has a default route (%s) and only root can give QEMU an empty one (run as root)", route)
		}
		env.prefix = []string{"unshare", "--net", "--"}
	}
	root := repoRoot(tb)
	bins, err := gobuild.Static(context.Background(), root, tb.TempDir(), gobuild.Server, gobuild.Init)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := ImageConfig{
		Script: filepath.Join(root, "scripts", "vm-image.sh"),
		Init:   bins[1],
		Dir:    filepath.Join(root, "lab", "vm", "image"),
		Log:    logWriter{tb},
	}
	key, err := ImageKey(cfg.Script, cfg.Init)
	if err != nil {
		tb.Fatal(err)
	}
	if !Cached(cfg.Dir, key) {
		if route == "" {
			tb.Skip("the VM image in lab/vm/image is missing or stale, and this network namespace has no route to Debian's mirror to build it (try: go tool mage vm:image, outside the namespace)")
		}
		if os.Geteuid() != 0 {
			tb.Skip("the VM image in lab/vm/image is missing or stale, and building it needs root (try: sudo go tool mage vm:image)")
		}
		for _, need := range [][2]string{{"mmdebstrap", "mmdebstrap"}, {"cpio", "cpio"}} {
			if _, err := exec.LookPath(need[0]); err != nil {
				tb.Skipf("%s not found, needed to build the VM image (try: apt-get install %s)", need[0], need[1])
			}
		}
	}
	start := time.Now()
	img, built, err := EnsureImage(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if built {
		tb.Logf("built the VM image in %.0fs", time.Since(start).Seconds())
	}
	env.img, env.shared, env.run = img, tb.TempDir(), tb.TempDir()
	if env.server, err = ShareBinary(env.shared, bins[0]); err != nil {
		tb.Fatal(err)
	}
	return env
}

// machine configures a guest running the server with args plus the ones that
// put its info file, name.info, in the shared directory and its exit status
// in name.status; it returns the guest and the info file's path.
func (e *vmEnv) machine(tb testing.TB, name string, args ...string) (*Machine, string) {
	tb.Helper()
	keyFile := filepath.Join(e.shared, name+".key")
	if err := os.WriteFile(keyFile, nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	args = append([]string{
		"-shm-path", keyFile, "-proj-id", "7",
		"-info-dir", e.shared, "-info-name", name + ".info",
		"-shm-msg", name + " shm message", "-socket-msg", name + ` "socket" message`,
	}, args...)
	m := New(Config{
		Name: name, RunDir: e.run, Image: e.img, SharedDir: e.shared,
		ServerBinary: e.server, ServerArgs: args, StatusFile: filepath.Join(e.shared, name+".status"),
		Prefix: e.prefix, Log: logWriter{tb},
	})
	tb.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return m, filepath.Join(e.shared, name+".info")
}

func TestIntegrationVM(t *testing.T) {
	env := newVMEnv(t)
	ctx := context.Background()
	m, info := env.machine(t, "vm1", "-port", "5000")
	start := time.Now()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid, _ := m.PID()
	if err := m.WaitReady(ctx, info); err != nil {
		t.Fatal(err)
	}
	t.Logf("boot to info file: %.2fs", time.Since(start).Seconds())

	lines := readLines(t, info)
	want := []string{GuestIP, "5000", filepath.Join(env.shared, "vm1.key"), "7"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("info file %s = %q, want %q", info, lines, want)
	}

	start = time.Now()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop: %.2fs", time.Since(start).Seconds())
	if code, err := m.ExitStatus(); err != nil || code != 0 {
		t.Errorf("ExitStatus() after Stop = %d, %v; want 0 (SIGTERM: the server cleans up and exits 0)", code, err)
	}
	checkNothingLeft(t, m, pid, info)
}

// A server that exits on its own (here: no client within -accept-timeout)
// takes the guest down with it, and Done says so.
func TestIntegrationVMServerExitPowersOff(t *testing.T) {
	env := newVMEnv(t)
	ctx := context.Background()
	m, info := env.machine(t, "vm2", "-port", "5001", "-accept-timeout", "1s")
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid, _ := m.PID()
	if err := m.WaitReady(ctx, info); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Done():
	case <-time.After(5 * time.Minute):
		t.Fatalf("guest still running 5 min after its server's 1 s accept timeout; %s", m.SerialTail())
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if code, err := m.ExitStatus(); err != nil || code != 0 {
		t.Errorf("ExitStatus() = %d, %v; want 0", code, err)
	}
	checkNothingLeft(t, m, pid, info)
}

// A server that fails at once powers the guest off too: WaitReady says so
// early, with the console's last lines, and ExitStatus gives its status.
func TestIntegrationVMServerFails(t *testing.T) {
	env := newVMEnv(t)
	ctx := context.Background()
	m, info := env.machine(t, "vm3", "-port", "0") // out of range: the server refuses it
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid, _ := m.PID()
	err := m.WaitReady(ctx, info)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "QEMU exited") ||
		!strings.Contains(err.Error(), "lab-init: server exited 2") {
		t.Fatalf("WaitReady with a failing server = %v, want QEMU's exit with the serial log's tail", err)
	}
	t.Logf("WaitReady: %v", err)
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if code, err := m.ExitStatus(); err != nil || code != 2 {
		t.Errorf("ExitStatus() = %d, %v; want 2 (the server's usage error)", code, err)
	}
	checkNothingLeft(t, m, pid, info)
}

// A guest whose console goes silent fails WaitReady after the stall limit,
// however long that is, and not before: here the server is a program that
// only sleeps, so after lab-init's last line nothing more is printed.
// Before the console's first byte QEMU's CPU time is the guest's progress,
// so a busy machine's slow start is no stall; the limit is long enough
// for the pauses between a loaded guest's boot lines.
func TestIntegrationVMStall(t *testing.T) {
	env := newVMEnv(t)
	ctx := context.Background()
	sleeper := filepath.Join(env.shared, "sleeper")
	if err := os.WriteFile(sleeper, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m, info := env.machine(t, "vm5")
	m.Config.ServerBinary = sleeper
	m.Config.Stall = 6 * time.Second
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid, _ := m.PID()
	err := m.WaitReady(ctx, info)
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "silent for") ||
		!strings.Contains(err.Error(), "starting server "+sleeper) {
		t.Fatalf("WaitReady with a silent guest = %v, want a stall with the console's last lines", err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if code, err := m.ExitStatus(); err != nil || code != 128+15 {
		t.Errorf("ExitStatus() = %d, %v; want 143 (sh killed by SIGTERM)", code, err)
	}
	checkNothingLeft(t, m, pid, info)
}

// LAB_VM_DEBUG=1 gives a root shell on the console socket; the guest is
// named after its server and resolves that name as a Debian install does.
func TestIntegrationVMDebugShell(t *testing.T) {
	env := newVMEnv(t)
	t.Setenv("LAB_VM_DEBUG", "1")
	ctx := context.Background()
	m, info := env.machine(t, "vm4", "-port", "5003")
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid, _ := m.PID()
	if err := m.WaitReady(ctx, info); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", m.Console)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Wait for the shell's prompt, then ask it one thing. (Nudge it with an
	// empty line now and then: the prompt may have come before we attached.)
	expect := func(want, send string) string {
		var seen strings.Builder
		buf := make([]byte, 4096)
		for deadline := time.Now().Add(60 * time.Second); !strings.Contains(seen.String(), want); {
			if time.Now().After(deadline) {
				t.Fatalf("console: no %q; it printed:\n%s\n%s", want, seen.String(), m.SerialTail())
			}
			if send != "" {
				if _, err := conn.Write([]byte(send)); err != nil {
					t.Fatal(err)
				}
			}
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, _ := conn.Read(buf)
			seen.Write(buf[:n])
		}
		return seen.String()
	}
	expect("root@vm4", "\n")
	if _, err := conn.Write([]byte("echo answer=$((6*7)) $(getent hosts $(hostname)) $(cat /proc/1/comm)\n")); err != nil {
		t.Fatal(err)
	}
	expect("answer=42 127.0.1.1 vm4 init", "")
	// Detach: a console client that stops reading stalls the guest's serial
	// port, and with it the guest.
	conn.Close()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	checkNothingLeft(t, m, pid, info)
}

// BenchmarkIntegrationVMBoot measures a guest's boot to its info file and its
// stop, under the accelerator DetectAccel picks (LAB_ACCEL); go tool mage
// vm:bench gives each phase.
func BenchmarkIntegrationVMBoot(b *testing.B) {
	env := newVMEnv(b)
	ctx := context.Background()
	m, info := env.machine(b, "bench", "-port", "5002")
	m.Config.Log = nil // one command line per boot is noise here
	var ready, stop time.Duration
	for b.Loop() {
		start := time.Now()
		if err := m.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if err := m.WaitReady(ctx, info); err != nil {
			b.Fatal(err)
		}
		ready += time.Since(start)
		start = time.Now()
		if err := m.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		stop += time.Since(start)
	}
	b.ReportMetric(ready.Seconds()/float64(b.N), "s-ready/op")
	b.ReportMetric(stop.Seconds()/float64(b.N), "s-stop/op")
}

// checkNothingLeft fails t if the guest did not power off by itself, or if
// QEMU, its files or the server's info file remain.
func checkNothingLeft(t *testing.T, m *Machine, pid int, info string) {
	t.Helper()
	if b, _ := os.ReadFile(m.SerialLog); !strings.Contains(string(b), "reboot: Power down") {
		t.Errorf("the guest did not power off by itself; %s", m.SerialTail())
	}
	if st, err := procfs.ReadStat(pid); err == nil && strings.HasPrefix(st.Comm, "qemu") {
		t.Errorf("QEMU pid %d still there (state %c)", pid, st.State)
	}
	for _, f := range []string{m.PIDFile, m.QMPSocket, m.Console, info} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (stat: %v)", f, err)
		}
	}
}

// defaultRoute returns a description of this network namespace's default
// route, IPv4 or IPv6, or "" when there is none.
func defaultRoute() (string, error) {
	v4, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(v4), "\n")[1:] {
		if f := strings.Fields(l); len(f) > 7 && f[1] == "00000000" && f[7] == "00000000" {
			return "IPv4 via " + f[0], nil
		}
	}
	v6, err := os.ReadFile("/proc/net/ipv6_route")
	if err != nil {
		return "", nil // no IPv6
	}
	for _, l := range strings.Split(string(v6), "\n") {
		// dst, dst_len, src, src_len, next hop, metric, refcnt, use, flags, dev
		f := strings.Fields(l)
		const rtfReject = 0x0200
		if len(f) == 10 && f[0] == strings.Repeat("0", 32) && f[1] == "00" && f[9] != "lo" && !hasFlag(f[8], rtfReject) {
			return "IPv6 via " + f[9], nil
		}
	}
	return "", nil
}

func hasFlag(hex string, flag uint64) bool {
	var v uint64
	for _, c := range hex {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint64(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint64(c-'a') + 10
		}
	}
	return v&flag != 0
}

func repoRoot(tb testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if dir == filepath.Dir(dir) {
			tb.Fatal("no go.mod above the test's directory")
		}
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	return lines
}

// logWriter sends the progress lines of the image build and the VM to the
// test log.
type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.tb.Log(l)
	}
	return len(p), nil
}

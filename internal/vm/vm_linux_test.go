package vm

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vmEnv is what a test needs to boot a guest: an image built from this tree's
// server, a shared directory and a run directory.
type vmEnv struct {
	img      Image
	shared   string
	run      string
	newNetNS bool
}

// newVMEnv skips tb, with the cause and the fix, unless a guest can boot here,
// building or refreshing the cached image in lab/vm/image when needed (about
// 30 s, as root).
func newVMEnv(tb testing.TB) *vmEnv {
	tb.Helper()
	if testing.Short() {
		tb.Skip("boots a VM (drop -short)")
	}
	for _, need := range [][2]string{{"qemu-system-x86_64", "qemu-system-x86"}, {"qemu-img", "qemu-utils"}} {
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
			tb.Skipf("this network namespace has a default route (%s) and only root can give QEMU an empty one (try: scripts/netns-run go test ./internal/vm/)", route)
		}
		env.newNetNS = true
	}
	root := repoRoot(tb)
	server := filepath.Join(tb.TempDir(), "server")
	// Built as the lab builds bin/server, so both find the same cached image.
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", server, "./cmd/server")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build the server: %v\n%s", err, out)
	}
	cfg := ImageConfig{
		Script: filepath.Join(root, "scripts", "vm-image.sh"),
		Server: server,
		Dir:    filepath.Join(root, "lab", "vm", "image"),
		Log:    logWriter{tb},
	}
	key, err := ImageKey(cfg.Script, cfg.Server)
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
		if _, err := exec.LookPath("mmdebstrap"); err != nil {
			tb.Skip("mmdebstrap not found, needed to build the VM image (try: apt-get install mmdebstrap)")
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
	return env
}

// machine configures a guest running the server with args plus the ones that
// put its info file, name.info, in the shared directory; it returns the
// guest and the info file's path.
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
		ServerArgs: args, NewNetNS: e.newNetNS, Log: logWriter{tb},
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
	if err := m.WaitReady(ctx, info, 60*time.Second); err != nil {
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
	checkNothingLeft(t, m, pid, info)
}

// A server that exits on its own (here: no client within -accept-timeout)
// takes the guest down with it.
func TestIntegrationVMServerExitPowersOff(t *testing.T) {
	env := newVMEnv(t)
	ctx := context.Background()
	m, info := env.machine(t, "vm2", "-port", "5001", "-accept-timeout", "1s")
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid, _ := m.PID()
	if err := m.WaitReady(ctx, info, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if !m.waitExit(ctx, pid, 30*time.Second) {
		t.Fatalf("guest still running 30 s after its server's 1 s accept timeout; %s", m.serialTail())
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	checkNothingLeft(t, m, pid, info)
}

// A server that fails at once powers the guest off too, and WaitReady says
// so early, with the console's last lines.
func TestIntegrationVMServerFails(t *testing.T) {
	env := newVMEnv(t)
	ctx := context.Background()
	m, info := env.machine(t, "vm3", "-port", "0") // out of range: the server refuses it
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid, _ := m.PID()
	err := m.WaitReady(ctx, info, 60*time.Second)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "QEMU exited") ||
		!strings.Contains(err.Error(), "lab-guest: starting server") {
		t.Fatalf("WaitReady with a failing server = %v, want QEMU's exit with the serial log's tail", err)
	}
	t.Logf("WaitReady: %v", err)
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	checkNothingLeft(t, m, pid, info)
}

// LAB_VM_DEBUG=1 gives a root shell on the console socket.
func TestIntegrationVMDebugShell(t *testing.T) {
	env := newVMEnv(t)
	t.Setenv("LAB_VM_DEBUG", "1")
	ctx := context.Background()
	m, info := env.machine(t, "vm4", "-port", "5003")
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid, _ := m.PID()
	if err := m.WaitReady(ctx, info, 60*time.Second); err != nil {
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
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(seen.String(), want); {
			if time.Now().After(deadline) {
				t.Fatalf("console: no %q; it printed:\n%s\n%s", want, seen.String(), m.serialTail())
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
	expect("root@isolab-vm", "\n")
	if _, err := conn.Write([]byte("echo answer=$((6*7)) $(systemctl is-active lab-server)\n")); err != nil {
		t.Fatal(err)
	}
	expect("answer=42 active", "") // the server runs
	// Detach: a console client that stops reading stalls the guest's serial
	// port, and with it the guest.
	conn.Close()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	checkNothingLeft(t, m, pid, info)
}

// BenchmarkIntegrationVMBoot measures a guest's boot to its info file and its
// stop, under the accelerator DetectAccel picks (LAB_ACCEL).
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
		if err := m.WaitReady(ctx, info, 60*time.Second); err != nil {
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
		t.Errorf("the guest did not power off by itself; %s", m.serialTail())
	}
	if qemuAlive(pid) {
		t.Errorf("QEMU pid %d still running", pid)
	}
	for _, f := range []string{m.Overlay, m.PIDFile, m.QMPSocket, m.Console, info} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (stat: %v)", f, err)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), m.Overlay) {
			t.Errorf("process %s still uses %s: %q", filepath.Base(filepath.Dir(p)), m.Overlay, b)
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

package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/procfs"
	"github.com/isolab/isolab/internal/sandbox/sandboxtest"
	"golang.org/x/sys/unix"
)

// needHelper is the sandbox's helper, or skips t when it cannot run.
func needHelper(t *testing.T) string { return sandboxtest.Helper(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	sandboxtest.Cleanup()
	os.Exit(code)
}

// box is a sandboxed run's directory, on a tmpfs of its own that bounds
// its disk, as the conformance harness gives each submission.
func box(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "box")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("box", dir, "tmpfs", 0, "size="+size+",mode=0777"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// run runs script with sh in a sandbox over dir and returns its output,
// exit status and report, and whether the uid's canary was killed; every
// process of its uid must be gone after.
func run(t *testing.T, dir, script string, limits Limits) (string, int, Report) {
	t.Helper()
	h := needHelper(t)
	p := Policy{UID: NewUID(), Writable: []string{dir}, Limits: limits, Grace: time.Second, Report: filepath.Join(t.TempDir(), "report.json")}
	canary, err := StartCanary(h, p.UID)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(h, p.Argv(h, []string{"/bin/sh", "-c", script})[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code == 125 {
		t.Fatalf("the sandbox could not be set up: %s", out)
	}
	rep, err := ReadReport(p.Report)
	if err != nil {
		t.Fatalf("%v; output: %s", err, out)
	}
	if canary.Killed() {
		rep.Outside = append(rep.Outside, "canary killed") // for the test's events
	}
	canary.Stop()
	if left := Processes(p.UID); len(left) > 0 {
		t.Errorf("processes of uid %d outlived the sandbox: %v", p.UID, left)
	}
	if more := Clean(h, p.UID); len(more) > 0 {
		t.Errorf("Clean(%d) found %q", p.UID, more)
	}
	if rep.UID != p.UID {
		t.Errorf("report for uid %d, want %d", rep.UID, p.UID)
	}
	return string(out), code, rep
}

var quick = Limits{Procs: 32, CPU: 2 * time.Second, Memory: 512 << 20, FileSize: 8 << 20, Files: 256}

// Code runs as its own uid, never root, can write its directory and only
// there: what it writes in /tmp, /var/tmp or its home lands in a trap and
// is reported, the rest of the system is read-only, and nothing reaches
// the real /tmp.
func TestUIDAndWrites(t *testing.T) {
	dir := box(t, "8m")
	marker := "isolab-sandbox-test-" + strconv.Itoa(os.Getpid())
	out, code, rep := run(t, dir, `
id -u; id -g; id -G
echo mine > ./mine
echo trap > /tmp/`+marker+`
echo trap > "$HOME/`+marker+`"
echo etc > /etc/`+marker+` 2>/dev/null || echo "etc refused"
echo root > /`+marker+` 2>/dev/null || echo "root refused"
cat /etc/shadow >/dev/null 2>&1 || echo "shadow refused"
echo "user $(id -un)"
unshare -Ur true 2>/dev/null || echo "userns refused"
`, quick)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	lines := strings.Fields(out)
	if len(lines) < 3 || lines[0] != strconv.Itoa(rep.UID) || lines[1] != strconv.Itoa(rep.UID) || lines[2] != strconv.Itoa(rep.UID) {
		t.Errorf("id printed %q, want uid, gid and groups all %d", lines, rep.UID)
	}
	for _, want := range []string{"etc refused", "root refused", "shadow refused", "user sandbox", "userns refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "mine"), &st); err != nil || int(st.Uid) != rep.UID {
		t.Errorf("its file in its directory: %v, owner %d, want %d", err, st.Uid, rep.UID)
	}
	want := []string{"/home/sandbox/" + marker, "/tmp/" + marker}
	if !slices.Equal(rep.Outside, want) {
		t.Errorf("report's writes outside = %q, want %q", rep.Outside, want)
	}
	for _, p := range []string{"/tmp/" + marker, "/etc/" + marker, "/" + marker} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s reached the real system", p)
			os.Remove(p)
		}
	}
	if ev := rep.Events(); len(ev) != 2 {
		t.Errorf("events %q, want the two writes outside", ev)
	}
}

// With UserNS the code may make a user namespace (as Apptainer does
// without setuid), and the cage's mounts stay locked in it: the system is
// as read-only to its namespace's root as to it. Visible paths under a trap
// stay in sight, read-only.
func TestUserNSAndVisible(t *testing.T) {
	h := needHelper(t)
	dir := box(t, "4m")
	shown := filepath.Join(t.TempDir(), "shown") // under /tmp: a trap would hide it
	if err := os.MkdirAll(shown, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shown, "f"), []byte("seen\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := Policy{UID: NewUID(), Writable: []string{dir}, Visible: []string{shown}, Limits: quick, Grace: time.Second, UserNS: true}
	script := `cat ` + shown + `/f; { echo x > ` + shown + `/g; } 2>/dev/null || echo "visible read-only"
unshare -Ur sh -c 'id -u; { echo x > /etc/isolab-userns-test; } 2>/dev/null || echo "etc refused in userns"; umount /tmp 2>/dev/null || echo "trap kept in userns"'`
	out, err := exec.Command(h, p.Argv(h, []string{"/bin/sh", "-c", script})[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got, want := string(out), "seen\nvisible read-only\n0\netc refused in userns\ntrap kept in userns\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if left := Processes(p.UID); len(left) > 0 {
		t.Errorf("processes of uid %d outlived the sandbox: %v", p.UID, left)
	}
}

// A hidden directory is empty and read-only to the code, however readable
// its files, but for the writable directory and the binary under it; the
// other submissions' sources beside it cannot be read, by a relative path
// or an absolute one.
func TestHidden(t *testing.T) {
	h := needHelper(t)
	// Not under /tmp, where the trap alone would hide it.
	root, err := os.MkdirTemp("/run", "isolab-sandbox-hidden-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	mine, other := filepath.Join(root, "impl", "mine"), filepath.Join(root, "impl", "other")
	for _, d := range []string{mine, other} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o777)
	}
	if err := os.WriteFile(filepath.Join(other, "server.cpp"), []byte("SECRET of another group\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(root, "bin", "cat")
	os.MkdirAll(filepath.Dir(tool), 0o755)
	if b, err := os.ReadFile("/bin/cat"); err != nil || os.WriteFile(tool, b, 0o755) != nil {
		t.Fatal("copy /bin/cat")
	}
	p := Policy{UID: NewUID(), Writable: []string{mine}, Visible: []string{tool}, Hidden: []string{root}, Limits: quick, Grace: time.Second}
	script := `cat ../other/server.cpp 2>/dev/null || echo "relative refused"
cat ` + other + `/server.cpp 2>/dev/null || echo "absolute refused"
ls -A ` + root + `/impl; ls -A ` + root + `/bin
{ echo x > ` + root + `/impl/new; } 2>/dev/null || echo "hidden read-only"
echo mine > ./mine.txt && ` + tool + ` ./mine.txt`
	out, err := exec.Command(h, p.Argv(h, []string{"/bin/sh", "-c", script})[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got, want := string(out), "relative refused\nabsolute refused\nmine\ncat\nhidden read-only\nmine\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(mine, "mine.txt")); err != nil || string(b) != "mine\n" {
		t.Errorf("its file in its directory: %q, %v", b, err)
	}
}

// A process that left the code's process group (setsid, as a daemon
// does) outlives the helper, which kills only its group (a trial's server
// and client share a uid, so the uid is not the helper's to sweep); Clean
// finds it by uid, kills it and names it.
func TestCleanNamesDaemons(t *testing.T) {
	h := needHelper(t)
	p := Policy{UID: NewUID(), Writable: []string{box(t, "4m")}, Limits: quick, Grace: time.Second}
	out, err := exec.Command(h, p.Argv(h, []string{"/bin/sh", "-c", "setsid sleep 900 < /dev/null > /dev/null 2>&1 &"})[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); len(Processes(p.UID)) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // setsid forks before it execs
	}
	left := strings.Join(Clean(h, p.UID), "; ")
	if !strings.Contains(left, ": sleep 900") || !strings.HasSuffix(left, ": killed") {
		t.Errorf("Clean = %q, want the sleep named and killed", left)
	}
	if pids := Processes(p.UID); len(pids) > 0 {
		t.Errorf("processes of uid %d outlived Clean: %v", p.UID, pids)
	}
}

// Each hostile act is stopped and named.
func TestHostileActs(t *testing.T) {
	tests := []struct {
		name, script string
		want         string // in the events
	}{
		// The bomb's root sleeps while its children fork: a root that
		// forks itself (b, not b &) may die of the limit's EAGAIN within
		// milliseconds, before the helper's sampler sees the peak.
		{"fork bomb", `b() { b & b & exec sleep 3; }; b & exec sleep 3`, "forked until its process limit"},
		{"leaves processes", `sleep 60 & echo started`, "left 1 processes running when it ended: killed (pid "},
		{"loops forever", `while :; do :; done`, "ran into its CPU time limit"},
		{"fills a file", `dd if=/dev/zero of=./big bs=1M count=100 2>/dev/null`, "wrote a file past the size limit"},
		{"kill(-1)", `kill -9 -1; echo after`, "canary killed"},
		{"fills the disk", `for i in 1 2 3 4; do dd if=/dev/zero of=./f$i bs=1M count=6 2>/dev/null; done; true`, "filled the disk of its directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			out, code, rep := run(t, box(t, "16m"), tt.script, quick)
			ev := strings.Join(rep.Events(), "; ")
			if !strings.Contains(ev, tt.want) {
				t.Errorf("events %q (exit %d, output %q, report %+v), want %q", ev, code, out, rep, tt.want)
			}
			t.Logf("%s: exit %d after %s: %s", tt.name, code, time.Since(start).Round(10*time.Millisecond), ev)
		})
	}
}

// SIGTERM reaches the code; code that ignores it is killed after the grace,
// with every process of its uid, and a busy loop is named.
func TestStop(t *testing.T) {
	h := needHelper(t)
	dir := box(t, "4m")
	limits := quick
	limits.CPU = time.Minute
	p := Policy{UID: NewUID(), Writable: []string{dir}, Limits: limits, Grace: time.Second, Report: filepath.Join(t.TempDir(), "r.json")}
	cmd := exec.Command(h, p.Argv(h, []string{"/bin/sh", "-c", `trap "" TERM; sleep 60 & while :; do :; done`})[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(Processes(p.UID)) < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	// Busy: until the loop has used more CPU time than a program that waits
	// for a client ever does (the report's 1 s), however busy the machine.
	for cpuSeconds(p.UID) < 1.2 {
		if len(Processes(p.UID)) == 0 {
			t.Fatal("the busy loop ended by itself")
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	cmd.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopped after %s, want about the 1 s grace", d)
	}
	rep, err := ReadReport(p.Report)
	if err != nil {
		t.Fatal(err)
	}
	if ev := strings.Join(rep.Events(), "; "); !strings.Contains(ev, ": sleep 60") {
		t.Errorf("events %q: want the sleep it left named", ev)
	}
	if ev := strings.Join(rep.Events(), "; "); !rep.Stopped || !strings.Contains(ev, "kept a CPU busy") {
		t.Errorf("report %+v, events %q: want stopped, busy", rep, ev)
	}
	if rep.Busiest < 1 { // it looped for 1.2 s of CPU time, at the least
		t.Errorf("report %+v: busiest process runnable %.2f s, want 1.2 s and more", rep, rep.Busiest)
	}
	if left := Processes(p.UID); len(left) > 0 {
		t.Errorf("processes of uid %d outlived the sandbox: %v", p.UID, left)
	}
}

func TestParse(t *testing.T) {
	p := Policy{UID: 1234567890, Writable: []string{"/a", "/b"}, Visible: []string{"/c", "/d/e"}, Hidden: []string{"/f", "/g/h"}, Dir: "/b", Limits: RunLimits, Grace: 3 * time.Second, Report: "/r.json", UserNS: true}
	got, argv, err := parse(p.Argv("/bin/isolab-sandbox", []string{"make", "-j2"})[1:])
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != p.UID || !slices.Equal(got.Writable, p.Writable) || !slices.Equal(got.Visible, p.Visible) || !slices.Equal(got.Hidden, p.Hidden) || got.Dir != p.Dir ||
		got.Limits != p.Limits || got.Grace != p.Grace || got.Report != p.Report || got.UserNS != p.UserNS || !slices.Equal(argv, []string{"make", "-j2"}) {
		t.Errorf("parse(Argv(%+v)) = %+v, %q", p, got, argv)
	}
	for _, bad := range [][]string{{"-uid", "0", "--", "x"}, {"-uid", "5000000"}, {"-uid", "5000000", "-rw", "rel", "--", "x"}, {"-uid", "5000000", "-ro", "rel", "--", "x"}, {"-uid", "5000000", "-hide", "/", "--", "x"}} {
		if _, _, err := parse(bad); err == nil {
			t.Errorf("parse(%q) = nil error", bad)
		}
	}
	if uid := NewUID(); uid < uidBase {
		t.Errorf("NewUID() = %d, below %d", uid, uidBase)
	}
}

// cpuSeconds is the CPU time the live processes of uid have used.
func cpuSeconds(uid int) float64 {
	var ticks int64
	for _, pid := range Processes(uid) {
		if st, err := procfs.ReadStat(pid); err == nil {
			ticks += st.UTime + st.STime
		}
	}
	return float64(ticks) / 100 // USER_HZ
}

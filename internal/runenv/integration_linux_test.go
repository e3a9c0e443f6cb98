package runenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/gobuild"
	"github.com/isolab/isolab/internal/labnet"
	"github.com/isolab/isolab/internal/labnet/labnettest"
	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/stress"
	"github.com/isolab/isolab/internal/vm"
	"github.com/isolab/isolab/server"
	"golang.org/x/sys/unix"
)

// bins are isolab's server and lab-init, built once for the package.
var bins struct {
	once                sync.Once
	root, server, init_ string
	err                 error
}

func built(t *testing.T) (root, serverBin string) {
	t.Helper()
	bins.once.Do(func() {
		if bins.root, bins.err = gobuild.Root("."); bins.err != nil {
			return
		}
		dir, err := os.MkdirTemp("", "isolab-runenv-test-")
		if err != nil {
			bins.err = err
			return
		}
		var paths []string
		paths, bins.err = gobuild.Static(context.Background(), bins.root, dir, gobuild.Server, gobuild.Init)
		if bins.err == nil {
			bins.server, bins.init_ = paths[0], paths[1]
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.root, bins.server
}

func TestMain(m *testing.M) {
	code := stress.Run(m)
	if bins.server != "" {
		os.RemoveAll(filepath.Dir(bins.server))
	}
	os.Exit(code)
}

// fixture is a Runner in a lab network of the test's own, and what its
// servers need: a shared directory with an info directory and key files.
type fixture struct {
	r      *Runner
	net    *labnet.Net
	shared string
	server string
	port   int
}

func newFixture(t *testing.T, dockerd bool, img vm.Image) *fixture {
	t.Helper()
	root, serverBin := built(t)
	net := labnettest.New(t, dockerd)
	shared := t.TempDir()
	info := filepath.Join(shared, "info")
	if err := os.MkdirAll(info, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(info, 0o777|os.ModeSticky) // containers write as the host user; guests as root
	r := New(Config{
		Dir: t.TempDir(), SharedDir: shared, Label: fmt.Sprintf("t%d", os.Getpid()),
		NetNS: net.Path(), DockerHost: net.DockerHost(),
		Dockerfile: filepath.Join(root, "images", "Dockerfile"), ApptainerDef: filepath.Join(root, "images", "server.def"), VMImage: img,
		Log: testLog{t},
	})
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return &fixture{r: r, net: net, shared: shared, server: serverBin, port: 32000}
}

// spec is a server of kind named name, with its key file and info file in
// the shared directory.
func (f *fixture) spec(t *testing.T, kind Kind, name string, extra ...string) (Spec, string) {
	t.Helper()
	key := filepath.Join(f.shared, name+".key")
	if err := os.WriteFile(key, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.port++
	setup := server.Setup{Port: f.port, ShmPathname: key, ShmProjID: 7, InfoFileDirectory: filepath.Join(f.shared, "info"), InfoFileName: name}
	args := append(server.CommandLine(setup, name+"-shm", name+"-socket"), extra...)
	return Spec{Name: name, Kind: kind, Bin: f.server, Args: args, Log: filepath.Join(f.shared, "..", name+".log"),
		IPC: IPCPrivate, Network: NetworkBridge}, filepath.Join(setup.InfoFileDirectory, name)
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// roundTrip is what another process gets of s: its handle through JSON.
func roundTrip(t *testing.T, s Server) Handle {
	t.Helper()
	b, err := json.Marshal(s.Handle())
	if err != nil {
		t.Fatal(err)
	}
	var h Handle
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// checkStopped fails t unless s has exited with want, its info file is gone
// and no segment with its key is left.
func checkStopped(t *testing.T, s Server, code, want int, info, key string) {
	t.Helper()
	if code != want {
		t.Errorf("%s exited %d, want %d; it printed:\n%s", s.Name(), code, want, s.Output())
	}
	if _, err := os.Stat(info); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left its info file %s", s.Name(), info)
	}
	if k, err := shm.Ftok(key, 7); err == nil {
		if _, err := shm.Lookup(k); err == nil {
			t.Errorf("%s left its segment %s", s.Name(), k)
		}
	}
	if !closed(s.Done()) {
		t.Errorf("%s: Done not closed after Stop", s.Name())
	}
}

// A host server runs in the Runner's namespace, writes its info file, and
// stops with SIGTERM, exit 0; another process finds it from its handle.
func TestIntegrationHostProcess(t *testing.T) {
	leakcheck.Check(t)
	f := newFixture(t, false, vm.Image{})
	ctx := context.Background()
	spec, info := f.spec(t, Host, "h1", "-ip", "127.0.0.1")
	s, err := f.r.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := WaitInfo(ctx, s, info, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Port != f.port {
		t.Errorf("info file port %d, want %d", got.Port, f.port)
	}
	h := roundTrip(t, s)
	if h.PID != s.(*Process).PID() || h.Started == 0 {
		t.Errorf("handle %+v: want pid %d and its start time", h, s.(*Process).PID())
	}
	reused := h
	reused.Started--
	if Attach(reused).running() {
		t.Error("Attach of a handle whose start time is not the pid's: running; want a reused pid not to count")
	}
	if inode(t, fmt.Sprintf("/proc/%d/ns/net", h.PID)) != inode(t, f.net.Path()) {
		t.Errorf("server not in the Runner's network namespace %s", f.net.Path())
	}
	other := Attach(h)
	if !other.running() {
		t.Fatal("Attach(handle): the server does not run")
	}
	code, err := s.Stop(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkStopped(t, s, code, 0, info, filepath.Join(f.shared, "h1.key"))
	if other.running() {
		t.Error("the attached server still runs after Stop")
	}
	if code, err := other.Stop(time.Second); code != -1 || err != nil {
		t.Errorf("Stop of a gone attached process = %d, %v; want -1 (unknown), nil", code, err)
	}
}

// inode is the inode number of the file path names, links followed.
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// An unshare server has an IPC namespace of its own: the host does not see
// its segment.
func TestIntegrationUnshare(t *testing.T) {
	leakcheck.Check(t)
	f := newFixture(t, false, vm.Image{})
	ctx := context.Background()
	spec, info := f.spec(t, Unshare, "u1", "-ip", "127.0.0.1")
	s, err := f.r.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WaitInfo(ctx, s, info, 0); err != nil {
		t.Fatal(err)
	}
	ipc, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", s.Handle().PID))
	mine, _ := os.Readlink("/proc/self/ns/ipc")
	if ipc == "" || ipc == mine {
		t.Errorf("unshare server in IPC namespace %q, this test in %q: want its own", ipc, mine)
	}
	code, err := s.Stop(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkStopped(t, s, code, 0, info, filepath.Join(f.shared, "u1.key"))
}

// WaitInfo fails at once when the server exits without its info file, with
// what it printed, and after a stall when it neither writes it nor works.
func TestIntegrationWaitInfoFails(t *testing.T) {
	leakcheck.Check(t)
	f := newFixture(t, false, vm.Image{})
	ctx := context.Background()
	spec, info := f.spec(t, Host, "bad")
	spec.Args = append(spec.Args, "-port", "0") // the server refuses it
	s, err := f.r.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = WaitInfo(ctx, s, info, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "exited 2 before writing its info file") ||
		!strings.Contains(err.Error(), "-port is required") || time.Since(start) > 10*time.Second {
		t.Errorf("WaitInfo of a server that exits = %v after %s, want its exit and output at once", err, time.Since(start))
	}
	sleeper, err := f.r.StartProcess(ctx, ProcessSpec{Name: "sleeper", Argv: []string{"sleep", "60"}, Log: filepath.Join(f.shared, "sleeper.log")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = WaitInfo(ctx, sleeper, filepath.Join(f.shared, "never"), 2*time.Second)
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "used no CPU time") {
		t.Errorf("WaitInfo of a process that does nothing = %v, want a stall", err)
	}
	if code, _ := sleeper.Stop(time.Second); code != 128+15 {
		t.Errorf("sleep stopped with %d, want 143", code)
	}
}

// Containers: least-privileged, started in the lab's dockerd or Podman in
// the lab's namespace; Stop gives the exit status and puts the output in
// the log; the container is removed; another process finds it from its
// handle.
func TestIntegrationDocker(t *testing.T) { testContainer(t, Docker) }
func TestIntegrationPodman(t *testing.T) { testContainer(t, Podman) }

func testContainer(t *testing.T, kind Kind) {
	if err := Installed(kind); err != nil {
		t.Skip(err)
	}
	leakcheck.Check(t)
	f := newFixture(t, kind == Docker, vm.Image{})
	ctx := context.Background()
	spec, info := f.spec(t, kind, "c1")
	s, err := f.r.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := WaitInfo(ctx, s, info, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.IP.IsLoopback() {
		t.Errorf("container's info file has %s, want its bridge address", got.IP)
	}
	h := roundTrip(t, s)
	other := Attach(h)
	if !other.running() {
		t.Fatal("Attach(handle): the container does not run")
	}
	code, err := other.Stop(5 * time.Second) // as lab:down would, from another process
	if err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	checkStopped(t, other, code, 0, info, filepath.Join(f.shared, "c1.key"))
	if s.ExitCode() != 0 {
		t.Errorf("the starting process saw exit %d", s.ExitCode())
	}
	if out := s.Output(); !strings.Contains(out, "listening on") {
		t.Errorf("container output in its log = %q, want the server's lines", out)
	}
	eng, _ := f.r.engineFor(kind)
	if ids, _ := eng.List(ctx, labelKey+"="+f.r.cfg.Label); len(ids) > 0 {
		t.Errorf("containers left: %v", ids)
	}
}

// An Apptainer server from images/server.def runs in the Runner's network
// namespace, the host's IPC namespace by default and one of its own with
// --ipc (IPCPrivate), and stops with SIGTERM, exit 0.
func TestIntegrationApptainer(t *testing.T) {
	if err := Installed(Apptainer); err != nil {
		t.Skip(err)
	}
	leakcheck.Check(t)
	f := newFixture(t, false, vm.Image{})
	ctx := context.Background()
	mine, _ := os.Readlink("/proc/self/ns/ipc")
	for _, ipc := range []string{IPCHost, IPCPrivate} {
		name := "a-" + ipc
		spec, info := f.spec(t, Apptainer, name, "-ip", "127.0.0.1")
		spec.IPC, spec.Network = ipc, NetworkHost
		s, err := f.r.Start(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := WaitInfo(ctx, s, info, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Port != f.port {
			t.Errorf("%s: info file port %d, want %d", name, got.Port, f.port)
		}
		if h := s.Handle(); inode(t, fmt.Sprintf("/proc/%d/ns/net", h.PID)) != inode(t, f.net.Path()) {
			t.Errorf("%s: not in the Runner's network namespace %s", name, f.net.Path())
		}
		key, _ := shm.Ftok(filepath.Join(f.shared, name+".key"), 7)
		_, lookErr := shm.Lookup(key)
		switch {
		case ipc == IPCHost && lookErr != nil:
			t.Errorf("%s: its segment %s is not visible from the host: %v", name, key, lookErr)
		case ipc == IPCPrivate && lookErr == nil:
			t.Errorf("%s: its segment %s is visible from the host, want its own IPC namespace", name, key)
		}
		if ns := serverIPC(t, s); (ns == mine) != (ipc == IPCHost) {
			t.Errorf("%s: the server's IPC namespace %q, this test's %q", name, ns, mine)
		}
		// What lab:status and lab:down do: find it again from its handle,
		// although apptainer has exec'd its starter since.
		other := Attach(roundTrip(t, s))
		if !other.running() {
			t.Errorf("%s: Attach(handle): the server does not run", name)
		}
		code, err := other.Stop(5 * time.Second)
		if code != -1 || err != nil {
			t.Errorf("%s: Stop of the attached server = %d, %v; want -1 (unknown), nil", name, code, err)
		}
		code, err = s.Stop(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		checkStopped(t, s, code, 0, info, filepath.Join(f.shared, name+".key"))
		if out := s.Output(); !strings.Contains(out, "listening on") {
			t.Errorf("%s: output %q, want the server's lines", name, out)
		}
	}
}

// serverIPC is the IPC namespace of the server Apptainer runs: Apptainer's
// starter is s's process, and the server one of its descendants.
func serverIPC(t *testing.T, s Server) string {
	t.Helper()
	pids := []int{s.Handle().PID}
	for len(pids) > 0 {
		pid := pids[0]
		pids = pids[1:]
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "/server") {
			ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", pid))
			return ns
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid)) // any thread may have forked
		for _, task := range tasks {
			b, _ := os.ReadFile(task)
			for _, c := range strings.Fields(string(b)) {
				var child int
				fmt.Sscan(c, &child)
				pids = append(pids, child)
			}
		}
	}
	t.Fatalf("no /server process under %s's pid %d", s.Name(), s.Handle().PID)
	return ""
}

// vmImage returns the lab's cached guest image, building it when this tree's
// recipe changed (the test runs outside any namespace, where Debian's mirror
// is), or skips t without QEMU.
func vmImage(t *testing.T) vm.Image {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM (drop -short)")
	}
	if err := Installed(VM); err != nil {
		t.Skip(err)
	}
	root, _ := built(t)
	for _, need := range [][2]string{{"mmdebstrap", "mmdebstrap"}, {"cpio", "cpio"}} {
		if _, err := exec.LookPath(need[0]); err != nil {
			t.Skipf("%s not found, needed to build the VM image (try: apt-get install %s)", need[0], need[1])
		}
	}
	img, _, err := vm.EnsureImage(context.Background(), vm.ImageConfig{
		Script: filepath.Join(root, "scripts", "vm-image.sh"), Init: bins.init_, Dir: filepath.Join(root, "lab", "vm", "image"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// A guest runs the server from the share in the lab's namespace; Stop
// powers it off and gives the server's exit status, a failing server's too.
func TestIntegrationVM(t *testing.T) {
	img := vmImage(t)
	leakcheck.Check(t)
	f := newFixture(t, false, img)
	ctx := context.Background()
	spec, info := f.spec(t, VM, "vm1")
	s, err := f.r.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	bad, badInfo := f.spec(t, VM, "vm2", "-port", "99999")
	failing, err := f.r.Start(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WaitInfo(ctx, s, info, 0); err != nil {
		t.Fatal(err)
	}
	h := roundTrip(t, s)
	if code, err := Attach(h).Stop(0); err != nil || code != 0 {
		t.Errorf("Stop of the guest from its handle = %d, %v; want 0", code, err)
	}
	<-s.Done()
	checkStopped(t, s, s.ExitCode(), 0, info, filepath.Join(f.shared, "vm1.key"))
	if _, err := WaitInfo(ctx, failing, badInfo, 0); err == nil || !strings.Contains(err.Error(), "QEMU exited") {
		t.Errorf("WaitInfo of a guest whose server fails = %v, want QEMU's exit", err)
	}
	if code := failing.ExitCode(); code != 1 {
		t.Errorf("the failing guest server's exit status = %d, want 1 (a system error)", code)
	}
	if !strings.Contains(failing.Output(), "system error: port 99999 is outside 1..65535") {
		t.Errorf("the failing guest server's output = %q, want its system error", failing.Output())
	}
	if left, _ := filepath.Glob(filepath.Join(f.r.cfg.Dir, "vm", "*")); len(left) > 0 {
		t.Errorf("guest files left: %v", left)
	}
}

// Reap ends what a run left when its process died: here the Runner is
// dropped, as a killed lab:up drops it, and a new one reaps from its
// directory alone.
func TestIntegrationReap(t *testing.T) {
	leakcheck.Check(t)
	f := newFixture(t, false, vm.Image{})
	ctx := context.Background()
	spec, info := f.spec(t, Host, "r1", "-ip", "127.0.0.1")
	s, err := f.r.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WaitInfo(ctx, s, info, 0); err != nil {
		t.Fatal(err)
	}
	reaped := Reap(ctx, f.r.Config())
	if len(reaped) != 1 || !strings.Contains(reaped[0], "host server r1 (pid") {
		t.Errorf("Reap = %q, want the host server r1", reaped)
	}
	<-s.Done()
	if again := Reap(ctx, f.r.Config()); len(again) != 0 {
		t.Errorf("Reap again = %q, want nothing", again)
	}
	os.Remove(info)
	if k, err := shm.Ftok(filepath.Join(f.shared, "r1.key"), 7); err == nil {
		if id, err := shm.Lookup(k); err == nil {
			shm.Remove(id) // a killed server leaves its segment: the lab reaps it by key
		}
	}
}

func TestIntegrationDockerSubmission(t *testing.T) { testSubmissionContainer(t, Docker) }
func TestIntegrationPodmanSubmission(t *testing.T) { testSubmissionContainer(t, Podman) }

// A submission's server (Untrusted, with SubmissionDockerfile) runs in a
// container on the guests' own Debian system: here the "server" is a shell
// script, which only that system can run, and it finds what a Debian
// install has and somewhere to write, as in a guest.
func testSubmissionContainer(t *testing.T, kind Kind) {
	if err := Installed(kind); err != nil {
		t.Skip(err)
	}
	img := vmImage(t)
	leakcheck.Check(t)
	root, _ := built(t)
	f := newFixture(t, kind == Docker, img)
	f.r.cfg.SubmissionDockerfile = filepath.Join(root, "images", "Dockerfile.submission")
	script := filepath.Join(t.TempDir(), "server")
	body := "#!/bin/sh\necho \"debian $(cat /etc/debian_version) in $(pwd)\"\n" +
		"echo written > scratch && cat scratch\nhostname >/dev/null && echo hostname-ok\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	spec, _ := f.spec(t, kind, "sub1")
	spec.Bin, spec.Args, spec.Untrusted, spec.UID = script, nil, true, 65534
	s, err := f.r.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	out := s.Output()
	for _, want := range []string{"debian 12", "in /tmp", "written", "hostname-ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("the submission's container printed %q, want %q in it", out, want)
		}
	}
	if s.ExitCode() != 0 {
		t.Errorf("exit %d, want 0; it printed %q", s.ExitCode(), out)
	}
}

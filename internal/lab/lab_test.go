package lab

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/labnet"
	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/scenario"
	"github.com/isolab/isolab/internal/shm"
)

func TestSpec(t *testing.T) {
	l := &Lab{Config: Config{Root: "/src", Dir: "/lab"}}
	base := Running{ShmPath: "/lab/shared/shm/s", InfoFile: "/lab/shared/info/s"}
	for _, tc := range []struct {
		name   string
		server scenario.Server
		accept time.Duration
		wantIP bool
	}{
		{"host listens on loopback", scenario.Server{Name: "s", Env: scenario.EnvHost}, 0, true},
		{"bridge container picks its own address", scenario.Server{Name: "s", Env: scenario.EnvDocker, Network: scenario.NetworkBridge}, 0, false},
		{"host-network container listens on loopback", scenario.Server{Name: "s", Env: scenario.EnvDocker, Network: scenario.NetworkHost}, 0, true},
		{"vm picks the guest's address", scenario.Server{Name: "s", Env: scenario.EnvVM}, 2 * time.Second, false},
	} {
		r := base
		r.Server = tc.server
		r.Port, r.ProjID, r.ShmMsg, r.SocketMsg = 31000, 7, "a", "b"
		r.AcceptTimeout = tc.accept
		spec := l.spec(r)
		want := []string{"-port", "31000", "-shm-path", "/lab/shared/shm/s", "-proj-id", "7",
			"-info-dir", "/lab/shared/info", "-info-name", "s", "-shm-msg", "a", "-socket-msg", "b"}
		if tc.wantIP {
			want = append(want, "-ip", "127.0.0.1")
		}
		if tc.accept > 0 {
			want = append(want, "-accept-timeout", tc.accept.String())
		}
		if !slices.Equal(spec.Args, want) {
			t.Errorf("%s: spec args = %q, want %q", tc.name, spec.Args, want)
		}
		if spec.Bin != "/src/bin/server" || spec.Log != "/lab/logs/s.log" || string(spec.Kind) != string(tc.server.Env) {
			t.Errorf("%s: spec = %+v", tc.name, spec)
		}
	}
}

// newTestLab is a lab over this repository with its own directory, running the
// scenario text given.
func newTestLab(t *testing.T, scenarioTOML string) (*Lab, *bytes.Buffer) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the lab runs as root here (containers bind the shared directory, VM images need mmdebstrap)")
	}
	path := filepath.Join(t.TempDir(), "scenario.toml")
	if err := os.WriteFile(path, []byte(scenarioTOML), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(VarScenario, path)
	var out bytes.Buffer
	l, err := New(Config{Root: "../..", Dir: t.TempDir(), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lab output:\n%s", out.String())
		}
	})
	t.Cleanup(func() { checkNetworkGone(t, l) })
	return l, &out
}

// checkNetworkGone fails when the lab's network namespace, its dockerd or a
// mount under the lab's directory outlives it.
func checkNetworkGone(t *testing.T, l *Lab) {
	t.Helper()
	if netns.Exists(l.Net().Name) {
		t.Errorf("network namespace %s survived", l.Net().Name)
		labnet.Down(context.Background(), l.Net())
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), " "+l.Dir+"/") {
		t.Errorf("a mount under %s survived", l.Dir)
	}
}

// checkNothingLeft fails when a lab's server process, info file or segment
// outlives it.
func checkNothingLeft(t *testing.T, l *Lab, st *State) {
	t.Helper()
	if left, _ := os.ReadDir(l.InfoDir()); len(left) > 0 {
		t.Errorf("info directory still holds %s", left[0].Name())
	}
	if _, err := os.Stat(l.statePath()); err == nil {
		t.Errorf("state file %s survived", l.statePath())
	}
	if st == nil {
		return
	}
	for _, r := range st.Servers {
		if runenv.Running(runenv.Attach(r.Handle)) {
			t.Errorf("server %s (%+v) still runs", r.Name, r.Handle)
		}
		key, err := shm.Ftok(r.ShmPath, r.ProjID)
		if err != nil {
			continue
		}
		if _, err := shm.Lookup(key); err == nil {
			t.Errorf("segment %s of %s survived", key, r.Name)
		}
	}
}

const hostScenario = `
[[server]]
name = "h1"
env = "host"
shm_msg = "h1-shm"
socket_msg = "h1-socket"

[[server]]
name = "h2"
env = "host"
shm_msg = "h2-shm"
socket_msg = "h2-socket"
`

func TestIntegrationLabHost(t *testing.T) {
	l, out := newTestLab(t, hostScenario)
	ctx := context.Background()
	st, err := l.Up(ctx)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	res, err := l.runClient(ctx, st)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	want := "Total Servers: 2\nHost: 2\nContainer: 0\nVM: 0\nMessages: h1-shm h1-socket h2-shm h2-socket\n"
	if got := res.Report.String(); got != want || st.Expected != want {
		t.Errorf("client report %q, expected report %q, want both %q", got, st.Expected, want)
	}
	if err := l.down(ctx, st); err != nil {
		t.Errorf("down: %v", err)
	}
	checkNothingLeft(t, l, st)
	if !strings.Contains(out.String(), "host h1 started") {
		t.Errorf("no progress line for h1 in:\n%s", out)
	}
}

func TestIntegrationLabDownReapsInterruptedRun(t *testing.T) {
	l, out := newTestLab(t, hostScenario)
	ctx := context.Background()
	st, err := l.Up(ctx)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	// A new process (lab:down after lab:up) knows only the state file.
	l2, err := New(Config{Root: l.Root, Dir: l.Dir, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Down(ctx); err != nil {
		t.Errorf("Down: %v", err)
	}
	checkNothingLeft(t, l, st)
	if err := l2.Down(ctx); err != nil {
		t.Errorf("second Down: %v", err)
	}
}

const dockerScenario = `
[[server]]
name = "c1"
env = "docker"
shm_msg = "c1-shm"
socket_msg = "c1-socket"

[[server]]
name = "c2"
env = "docker"
ipc = "host"
shm_msg = "c2-shm"
socket_msg = "c2-socket"

[[server]]
name = "h1"
env = "host"
shm_msg = "h1-shm"
socket_msg = "h1-socket"
`

func needEngine(t *testing.T, k runenv.Kind) {
	t.Helper()
	if err := runenv.Installed(runenv.Kind(k)); err != nil {
		t.Skip(err)
	}
}

func TestIntegrationLabDocker(t *testing.T) {
	needEngine(t, runenv.Docker)
	l, _ := newTestLab(t, dockerScenario)
	l.Engine = runenv.Docker
	if err := l.Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	checkNothingLeft(t, l, nil)
}

func TestIntegrationLabPodman(t *testing.T) {
	needEngine(t, runenv.Podman)
	l, _ := newTestLab(t, dockerScenario)
	l.Engine = runenv.Podman
	if err := l.Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	checkNothingLeft(t, l, nil)
}

func TestIntegrationLabWrongExpectationFails(t *testing.T) {
	needEngine(t, runenv.Docker)
	l, out := newTestLab(t, strings.Replace(dockerScenario, `name = "c1"`, "name = \"c1\"\nexpect = \"VM\"", 1))
	err := l.Verify(context.Background())
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify = %v, want ErrMismatch", err)
	}
	for _, want := range []string{"--- expected", "+++ client", "-VM: 1", "+Container: 1", "client -explain:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	checkNothingLeft(t, l, nil)
}

// cancelOn is the lab's output that cancels a context when a line holding
// want is printed: a Ctrl-C at that point.
type cancelOn struct {
	out    *bytes.Buffer
	want   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte(c.want)) {
		c.cancel()
	}
	return c.out.Write(b)
}

// A Ctrl-C while lab:up starts the servers tears down what it had started:
// no server, container, namespace or dockerd outlives it, and the state file
// is gone.
func TestIntegrationLabUpInterrupted(t *testing.T) {
	needEngine(t, runenv.Docker)
	l, out := newTestLab(t, dockerScenario)
	l.Engine = runenv.Docker
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.Out = &cancelOn{out: out, want: "docker c1 started", cancel: cancel}
	st, err := l.Up(ctx)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("Up cancelled after its first container = %v, %v; want interrupted", st, err)
	}
	checkNothingLeft(t, l, nil)
	l2, _ := New(Config{Root: l.Root, Dir: l.Dir, Out: out}) // lab:down, another process
	if err := l2.Down(context.Background()); err != nil || !strings.Contains(out.String(), "already down") {
		t.Errorf("Down after the interrupted Up = %v; want a lab already down:\n%s", err, out)
	}
}

// A kill -9 of any part (here: dockerd and a host server) leaves lab:down
// with what it needs: it stops the rest, deletes the namespace and reports
// what it had to reap; and a state file whose network is gone (as after a
// reboot) is reaped by the next lab:up.
func TestIntegrationLabDownAfterKill(t *testing.T) {
	needEngine(t, runenv.Docker)
	l, out := newTestLab(t, dockerScenario)
	l.Engine = runenv.Docker
	ctx := context.Background()
	st, err := l.Up(ctx)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	dockerd, _ := labnet.Attach(l.Net())
	for _, pid := range []int{dockerd.Dockerd, st.Servers[len(st.Servers)-1].Handle.PID} {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	l2, _ := New(Config{Root: l.Root, Dir: l.Dir, Out: out}) // another process
	if err := l2.Down(ctx); err != nil {
		t.Errorf("Down after kill -9: %v", err)
	}
	checkNothingLeft(t, l, st)
	if !strings.Contains(out.String(), "reaped") {
		t.Errorf("Down reported nothing reaped:\n%s", out)
	}

	// A reboot: the state says up, but nothing of it is there.
	stale := *st
	stale.NetNS = "isolab-gone-" + l.id()
	for i := range stale.Servers {
		stale.Servers[i].Handle.PID, stale.Servers[i].Handle.Container = 999999, "0123456789ab"
	}
	if err := l.SaveState(&stale); err != nil {
		t.Fatal(err)
	}
	l3, _ := New(Config{Root: l.Root, Dir: l.Dir, Out: out, Engine: runenv.Docker})
	st3, err := l3.Up(ctx)
	if err != nil {
		t.Fatalf("Up over a stale state: %v", err)
	}
	if !strings.Contains(out.String(), "left up by a run that is gone") {
		t.Errorf("Up over a stale state said nothing of it:\n%s", out)
	}
	if err := l3.down(ctx, st3); err != nil {
		t.Errorf("down: %v", err)
	}
	checkNothingLeft(t, l, st3)
}

// A VM server that exits non-zero makes lab:verify fail and name it. The
// server here is a script on the share that runs isolab's server and then
// exits 3: the report is right, the exit status is not.
func TestIntegrationLabVMExitStatus(t *testing.T) {
	if err := runenv.Installed(runenv.VM); err != nil {
		t.Skip(err)
	}
	if testing.Short() {
		t.Skip("boots a VM (drop -short)")
	}
	l, out := newTestLab(t, `
[[server]]
name = "vm1"
env = "vm"
shm_msg = "vm1-shm"
socket_msg = "vm1-socket"
`)
	ctx := context.Background()
	if err := l.Build(ctx); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(l.SharedDir(), "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	real, _ := os.ReadFile(l.ServerBin())
	if err := os.WriteFile(filepath.Join(bin, "real-server"), real, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(t.TempDir(), "server-then-3")
	script := `#!/bin/sh
"$(dirname "$0")/real-server" "$@" &
child=$!
trap 'kill -TERM $child; wait $child; exit 3' TERM
wait $child
exit 3
`
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	l.serverBin = wrapper
	err := l.Verify(ctx)
	if err == nil || !strings.Contains(err.Error(), "server vm1 exited with status 3") {
		t.Fatalf("Verify with a VM server that exits 3 = %v, want it named", err)
	}
	if !strings.Contains(out.String(), "Total Servers: 1") {
		t.Errorf("the client did not run:\n%s", out)
	}
	checkNothingLeft(t, l, nil)
}

// Apptainer's variants, each as the client sees it: the defaults share the
// host's IPC and network (Host), --ipc and --containall keep the segment
// (Container), --net --network none keeps both (VM).
const apptainerScenario = `
[[server]]
name = "a-defaults"
env = "apptainer"
ipc = "host"
shm_msg = "a1-shm"
socket_msg = "a1-socket"

[[server]]
name = "a-ipc"
env = "apptainer"
shm_msg = "a2-shm"
socket_msg = "a2-socket"

[[server]]
name = "a-containall"
env = "apptainer"
containall = true
shm_msg = "a3-shm"
socket_msg = "a3-socket"

[[server]]
name = "a-none"
env = "apptainer"
network = "none"
shm_msg = "a4-shm"
socket_msg = "a4-socket"
`

func TestIntegrationLabApptainer(t *testing.T) {
	needEngine(t, runenv.Apptainer)
	l, _ := newTestLab(t, apptainerScenario)
	ctx := context.Background()
	st, err := l.Up(ctx)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	res, err := l.runClient(ctx, st)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	want := "Total Servers: 4\nHost: 1\nContainer: 2\nVM: 1\nMessages: a3-socket a1-shm a1-socket a2-socket\n" // info files by name
	if got := res.Report.String(); got != want || st.Expected != want {
		t.Errorf("client report %q, expected report %q, want both %q", got, st.Expected, want)
	}
	if err := l.down(ctx, st); err != nil {
		t.Errorf("down: %v", err)
	}
	checkNothingLeft(t, l, st)
}

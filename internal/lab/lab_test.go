package lab

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/engine"
	"github.com/isolab/isolab/internal/scenario"
	"github.com/isolab/isolab/internal/shm"
)

func TestServerArgs(t *testing.T) {
	base := Running{
		ShmPath:  "/lab/shared/shm/s",
		InfoFile: "/lab/shared/info/s",
	}
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
		got := serverArgs(&r)
		want := []string{"-port", "31000", "-shm-path", "/lab/shared/shm/s", "-proj-id", "7",
			"-info-dir", "/lab/shared/info", "-info-name", "s", "-shm-msg", "a", "-socket-msg", "b"}
		if tc.accept > 0 {
			want = append(want, "-accept-timeout", tc.accept.String())
		}
		if tc.wantIP {
			want = append(want, "-ip", "127.0.0.1")
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: serverArgs = %q, want %q", tc.name, got, want)
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
	t.Setenv(EnvScenario, path)
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
	return l, &out
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
		if r.PID > 0 && len(r.Argv) > 0 && isServerProcess(r.PID, r.Argv[0]) {
			t.Errorf("server %s (pid %d) still runs", r.Name, r.PID)
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
	res, err := l.runClient(ctx)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	want := "Total Servers: 2\nHost: 2\nContainer: 0\nVM: 0\nMessages: h1-shm h1-socket h2-shm h2-socket\n"
	if got := res.Report.String(); got != want || st.Expected != want {
		t.Errorf("client report %q, expected report %q, want both %q", got, st.Expected, want)
	}
	if err := l.down(ctx, st, l.envs); err != nil {
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

func needEngine(t *testing.T) {
	t.Helper()
	if _, err := engine.Detect(context.Background()); err != nil {
		t.Skipf("no container engine: %v", err)
	}
}

func TestIntegrationLabContainers(t *testing.T) {
	needEngine(t)
	l, _ := newTestLab(t, dockerScenario)
	if err := l.Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	checkNothingLeft(t, l, nil)
}

func TestIntegrationLabWrongExpectationFails(t *testing.T) {
	needEngine(t)
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

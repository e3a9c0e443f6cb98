package lab

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/isolab/isolab/internal/report"
	"github.com/isolab/isolab/internal/scenario"
)

func TestUnshareArgv(t *testing.T) {
	server := []string{"/bin/server", "-port", "31000", "-shm-path", "/lab/shared/shm/u", "-proj-id", "7",
		"-info-dir", "/lab/shared/info", "-info-name", "u", "-shm-msg", "a", "-socket-msg", "b"}
	for _, tc := range []struct {
		name   string
		server scenario.Server
		want   []string // before the server's command line
		wantIP bool
	}{
		{"defaults: own IPC namespace", scenario.Server{Name: "u", Env: scenario.EnvUnshare}, []string{"unshare", "--ipc", "--"}, true},
		{"network none: own network namespace too", scenario.Server{Name: "u", Env: scenario.EnvUnshare, Network: scenario.NetworkNone}, []string{"unshare", "--ipc", "--net", "--"}, false},
		{"ipc host, network none", scenario.Server{Name: "u", Env: scenario.EnvUnshare, IPC: scenario.IPCHost, Network: scenario.NetworkNone}, []string{"unshare", "--net", "--"}, false},
		{"ipc host: no new namespace", scenario.Server{Name: "u", Env: scenario.EnvUnshare, IPC: scenario.IPCHost}, []string{"unshare", "--"}, true},
	} {
		r := Running{Server: tc.server, ShmPath: "/lab/shared/shm/u", InfoFile: "/lab/shared/info/u"}
		r.Port, r.ProjID, r.ShmMsg, r.SocketMsg = 31000, 7, "a", "b"
		want := append(slices.Clone(tc.want), server...)
		if tc.wantIP {
			want = append(want, "-ip", "127.0.0.1")
		}
		if got := unshareArgv("unshare", "/bin/server", &r); !slices.Equal(got, want) {
			t.Errorf("%s: unshareArgv = %q, want %q", tc.name, got, want)
		}
	}
}

func TestLoadScenarioFromConfig(t *testing.T) {
	sc := &scenario.Scenario{File: "matrix", Servers: []scenario.Server{
		{Name: "h", Env: scenario.EnvHost, ShmMsg: "h-shm", SocketMsg: "h-socket"},
		{Name: "u", Env: scenario.EnvUnshare, Network: scenario.NetworkNone, ShmMsg: "u-shm", SocketMsg: "u-socket"},
	}}
	l := &Lab{Config: Config{Scenario: sc}}
	got, err := l.loadScenario()
	if err != nil {
		t.Fatalf("loadScenario() = %v, want nil error", err)
	}
	u := got.Servers[1]
	if u.Port != scenario.DefaultPortBase+1 || u.ProjID != 2 || u.IPC != scenario.IPCPrivate || u.Network != scenario.NetworkNone {
		t.Errorf("loadScenario() server u = %+v, want port %d, proj_id 2, ipc private, network none", u, scenario.DefaultPortBase+1)
	}
	if sc.Servers[1].Port != 0 {
		t.Errorf("loadScenario changed Config.Scenario: %+v", sc.Servers[1])
	}
	sc.Servers[1].ExtraArgs = []string{"--fork"}
	if _, err := l.loadScenario(); !errors.Is(err, scenario.ErrBadOption) {
		t.Errorf("loadScenario() with extra_args on unshare = %v, want %v", err, scenario.ErrBadOption)
	}
}

// TestIntegrationLabUnshare runs a host server and the two unshare variants
// and checks what the client made of each, and that nothing is left.
func TestIntegrationLabUnshare(t *testing.T) {
	l, _ := newTestLab(t, `
[[server]]
name = "h"
env = "host"
shm_msg = "h-shm"
socket_msg = "h-socket"

[[server]]
name = "u-ipc"
env = "unshare"
shm_msg = "u-ipc-shm"
socket_msg = "u-ipc-socket"

[[server]]
name = "u-net"
env = "unshare"
network = "none"
shm_msg = "u-net-shm"
socket_msg = "u-net-socket"
`)
	m, err := l.Measure(context.Background())
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	got := map[string]report.Class{}
	for _, s := range m.Result.Servers {
		got[s.File] = s.Class
	}
	want := map[string]report.Class{"h": report.Host, "u-ipc": report.Container, "u-net": report.VM}
	for name, c := range want {
		if got[name] != c {
			t.Errorf("client's class of %s = %v, want %v (all: %v)", name, got[name], c, got)
		}
	}
	if r := m.Result.Report.String(); r != m.State.Expected {
		t.Errorf("client report %q, expected report %q", r, m.State.Expected)
	}
	checkNothingLeft(t, l, m.State)
}

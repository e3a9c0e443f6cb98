package lab

import (
	"context"
	"errors"
	"testing"

	"github.com/isolab/isolab/internal/report"
	"github.com/isolab/isolab/internal/scenario"
)

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

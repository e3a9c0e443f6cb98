package scenario

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestAllocate(t *testing.T) {
	type pp struct{ Port, ProjID int }
	tests := []struct {
		name     string
		portBase int
		in       []pp // zero: unset
		want     []pp
	}{
		{"all unset", 0, []pp{{}, {}, {}}, []pp{{31000, 1}, {31001, 2}, {31002, 3}}},
		{"base", 40000, []pp{{}, {}}, []pp{{40000, 1}, {40001, 2}}},
		{"skips explicit values", 0, []pp{{}, {31001, 2}, {}, {31000, 1}}, []pp{{31002, 3}, {31001, 2}, {31003, 4}, {31000, 1}}},
		{"explicit elsewhere", 0, []pp{{8080, 200}, {}}, []pp{{8080, 200}, {31000, 1}}},
		{"explicit duplicates", 0, []pp{{31000, 1}, {31000, 1}, {}}, []pp{{31000, 1}, {31000, 1}, {31001, 2}}},
		{"top of the ranges", 65534, []pp{{}, {65535, 254}, {}}, []pp{{65534, 1}, {65535, 254}, {0, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &Scenario{File: "t.toml", PortBase: tt.portBase}
			for i, v := range tt.in {
				sc.Servers = append(sc.Servers, Server{Name: fmt.Sprint("s", i), Env: EnvHost, Port: v.Port, ProjID: v.ProjID})
			}
			err := sc.Allocate()
			if tt.want[len(tt.want)-1] == (pp{}) {
				if !errors.Is(err, ErrExhausted) {
					t.Errorf("Allocate(%v) = %v, want %v", tt.in, err, ErrExhausted)
				}
				return
			}
			if err != nil {
				t.Fatalf("Allocate(%v) = %v, want nil error", tt.in, err)
			}
			var got []pp
			for _, s := range sc.Servers {
				got = append(got, pp{s.Port, s.ProjID})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Allocate(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestAllocateProjIDsRunOut(t *testing.T) {
	sc := &Scenario{File: "t.toml"}
	for i := range MaxProjID + 1 {
		sc.Servers = append(sc.Servers, Server{Name: fmt.Sprint("s", i), Env: EnvHost})
	}
	err := sc.Allocate()
	want := `scenario t.toml: server "s255": no proj_id left: all of 1..255 are taken`
	if !errors.Is(err, ErrExhausted) || err.Error() != want {
		t.Errorf("Allocate(256 servers) = %v, want %q", err, want)
	}
}

// TestAllocateNeverCollides allocates for every mix of environments and namespace
// options and checks that the result passes Validate, and that Allocate changes
// nothing the second time.
func TestAllocateNeverCollides(t *testing.T) {
	var servers []Server
	for _, env := range Envs {
		for _, ipc := range []IPC{"", IPCHost} {
			for _, net := range []Network{"", NetworkHost, NetworkNone} {
				s := Server{Env: env, IPC: ipc, Network: net, ShmMsg: "m", SocketMsg: "m"}
				if !env.Namespaced() && (ipc != "" || net != "") {
					continue
				}
				s.Name = fmt.Sprintf("%s-%s-%s", env, ipc, net)
				servers = append(servers, s)
			}
		}
	}
	servers[0].Port, servers[0].ProjID = 31001, 2 // explicit values in the way
	sc := &Scenario{File: "t.toml", Servers: servers}
	if err := sc.Validate(); err != nil {
		t.Fatalf("Validate(%v) = %v, want nil error", servers, err)
	}
	if err := sc.Allocate(); err != nil {
		t.Fatalf("Allocate(%v) = %v, want nil error", servers, err)
	}
	if err := sc.Validate(); err != nil {
		t.Errorf("Validate after Allocate(%v) = %v, want nil error", servers, err)
	}
	ports, ids := map[int]string{}, map[int]string{}
	for _, s := range sc.Servers {
		if other, ok := ports[s.Port]; ok {
			t.Errorf("Allocate gave port %d to %s and %s", s.Port, other, s.Name)
		}
		if other, ok := ids[s.ProjID]; ok {
			t.Errorf("Allocate gave proj_id %d to %s and %s", s.ProjID, other, s.Name)
		}
		ports[s.Port], ids[s.ProjID] = s.Name, s.Name
	}
	before := append([]Server(nil), sc.Servers...)
	if err := sc.Allocate(); err != nil || !reflect.DeepEqual(sc.Servers, before) {
		t.Errorf("second Allocate = %v, changed %v to %v", err, before, sc.Servers)
	}
}

package scenario

import (
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/report"
)

func TestVisibility(t *testing.T) {
	tests := []struct {
		s           Server
		shm, socket bool
		class       report.Class
		note        string // substring; "" means no note
	}{
		{Server{Env: EnvHost}, true, true, report.Host, ""},
		{Server{Env: EnvDocker}, false, true, report.Container, ""},
		{Server{Env: EnvPodman}, false, true, report.Container, ""},
		{Server{Env: EnvDocker, IPC: IPCPrivate, Network: NetworkBridge}, false, true, report.Container, ""},
		{Server{Env: EnvDocker, IPC: IPCHost}, true, true, report.Host, "docker container, but it shares the host's IPC namespace and the host reaches its bridge address, so the rule calls it Host"},
		{Server{Env: EnvDocker, Network: NetworkNone}, false, false, report.VM, "it has an IPC namespace of its own and it has no network but loopback, so the rule calls it VM"},
		{Server{Env: EnvDocker, Network: NetworkHost}, false, true, report.Container, ""},
		{Server{Env: EnvDocker, IPC: IPCHost, Network: NetworkNone}, true, false, report.Container, ""},
		{Server{Env: EnvPodman, IPC: IPCHost, Network: NetworkHost}, true, true, report.Host, "shares the host's network, so the rule calls it Host"},
		{Server{Env: EnvPodman, Rootless: true}, false, false, report.VM, "its rootless engine's network is out of the host's reach, so the rule calls it VM"},
		{Server{Env: EnvPodman, Rootless: true, Network: NetworkHost}, false, true, report.Container, ""},
		{Server{Env: EnvPodman, Rootless: true, IPC: IPCHost}, true, false, report.Container, ""},
		{Server{Env: EnvApptainer}, false, true, report.Container, ""},
		{Server{Env: EnvApptainer, Containall: true}, false, true, report.Container, ""},
		{Server{Env: EnvApptainer, IPC: IPCHost}, true, true, report.Host, "apptainer container, but it shares the host's IPC namespace and it shares the host's network"},
		{Server{Env: EnvApptainer, IPC: IPCHost, Network: NetworkNone}, true, false, report.Container, ""},
		{Server{Env: EnvApptainer, Network: NetworkNone}, false, false, report.VM, "so the rule calls it VM"},
		{Server{Env: EnvVM}, false, false, report.VM, ""},
		{Server{Env: EnvUnshare}, false, true, report.Container, "host process under unshare, but it has an IPC namespace of its own and it shares the host's network, so the rule calls it Container"},
		{Server{Env: EnvUnshare, Network: NetworkNone}, false, false, report.VM, "it has no network but loopback, so the rule calls it VM"},
		{Server{Env: EnvUnshare, IPC: IPCHost}, true, true, report.Host, ""},
		{Server{Env: "lxc"}, false, false, report.VM, `unknown env "lxc"`},
	}
	for _, tt := range tests {
		v := tt.s.Visibility()
		if v.Shm != tt.shm || v.Socket != tt.socket || v.Class() != tt.class {
			t.Errorf("(%+v).Visibility() = %+v (%v), want shm %v, socket %v (%v)", tt.s, v, v.Class(), tt.shm, tt.socket, tt.class)
		}
		if (tt.note == "") != (v.Note == "") || !strings.Contains(v.Note, tt.note) {
			t.Errorf("(%+v).Visibility().Note = %q, want %q", tt.s, v.Note, tt.note)
		}
	}
}

func TestNominal(t *testing.T) {
	for _, tt := range []struct {
		env  Env
		want report.Class
	}{
		{EnvHost, report.Host}, {EnvUnshare, report.Host},
		{EnvDocker, report.Container}, {EnvPodman, report.Container}, {EnvApptainer, report.Container},
		{EnvVM, report.VM},
	} {
		if got := tt.env.Nominal(); got != tt.want {
			t.Errorf("Env(%q).Nominal() = %v, want %v", tt.env, got, tt.want)
		}
	}
}

func TestExpectation(t *testing.T) {
	tests := []struct {
		s           Server
		shm, socket bool
		note        string
	}{
		{Server{Env: EnvDocker, Expect: "Container"}, false, true, ""},
		{Server{Env: EnvDocker, Expect: "Host"}, true, true, `expect = "Host" overrides the derived Container`},
		{Server{Env: EnvHost, Expect: "VM"}, false, false, `expect = "VM" overrides the derived Host`},
		{Server{Env: EnvHost, Expect: "Container"}, false, true, `overrides the derived Host`},
		{Server{Env: EnvVM, Expect: "Container"}, false, true, `overrides the derived VM`},
		{Server{Env: EnvDocker, IPC: IPCHost, Network: NetworkNone, Expect: "Container"}, true, false, ""},
		{Server{Env: EnvDocker, Expect: "nonsense"}, false, true, ""}, // Validate refuses it
	}
	for _, tt := range tests {
		v := tt.s.Expectation()
		if v.Shm != tt.shm || v.Socket != tt.socket || !strings.Contains(v.Note, tt.note) || (tt.note == "") != (v.Note == "") {
			t.Errorf("(%+v).Expectation() = %+v, want shm %v, socket %v, note %q", tt.s, v, tt.shm, tt.socket, tt.note)
		}
	}
}

// srv is a server whose messages are NAME.shm and NAME.sock.
func srv(name string, env Env, opts ...func(*Server)) Server {
	s := Server{Name: name, Env: env, ShmMsg: name + ".shm", SocketMsg: name + ".sock"}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func withIPC(i IPC) func(*Server)         { return func(s *Server) { s.IPC = i } }
func withNetwork(n Network) func(*Server) { return func(s *Server) { s.Network = n } }
func withExpect(c string) func(*Server)   { return func(s *Server) { s.Expect = c } }

func TestExpected(t *testing.T) {
	tests := []struct {
		name     string
		servers  []Server
		infoName func(Server) string
		want     string
	}{
		{
			name:    "none",
			servers: nil,
			want:    "Total Servers: 0\nHost: 0\nContainer: 0\nVM: 0\nMessages:\n",
		},
		{
			name:    "default mix, sorted by name",
			servers: []Server{srv("host1", EnvHost), srv("host2", EnvHost), srv("docker1", EnvDocker), srv("docker2", EnvDocker), srv("vm1", EnvVM)},
			want:    "Total Servers: 5\nHost: 2\nContainer: 2\nVM: 1\nMessages: docker1.sock docker2.sock host1.shm host1.sock host2.shm host2.sock\n",
		},
		{
			name:    "docker --ipc=host is Host",
			servers: []Server{srv("h", EnvHost), srv("d", EnvDocker, withIPC(IPCHost))},
			want:    "Total Servers: 2\nHost: 2\nContainer: 0\nVM: 0\nMessages: d.shm d.sock h.shm h.sock\n",
		},
		{
			name:    "shm only",
			servers: []Server{srv("d", EnvPodman, withIPC(IPCHost), withNetwork(NetworkNone)), srv("n", EnvDocker, withNetwork(NetworkNone))},
			want:    "Total Servers: 2\nHost: 0\nContainer: 1\nVM: 1\nMessages: d.shm\n",
		},
		{
			name:    "wrong expectation",
			servers: []Server{srv("h", EnvHost), srv("d", EnvDocker, withExpect("Host"))},
			want:    "Total Servers: 2\nHost: 2\nContainer: 0\nVM: 0\nMessages: d.shm d.sock h.shm h.sock\n",
		},
		{
			name:    "byte order: upper case and digits first",
			servers: []Server{srv("b", EnvHost), srv("a", EnvHost), srv("B", EnvHost), srv("10", EnvHost), srv("9", EnvHost), srv("a.1", EnvHost), srv("a-1", EnvHost)},
			want:    "Total Servers: 7\nHost: 7\nContainer: 0\nVM: 0\nMessages: 10.shm 10.sock 9.shm 9.sock B.shm B.sock a.shm a.sock a-1.shm a-1.sock a.1.shm a.1.sock b.shm b.sock\n",
		},
		{
			name:     "other info names",
			servers:  []Server{srv("a", EnvHost), srv("b", EnvDocker)},
			infoName: func(s Server) string { return map[string]string{"a": "zz", "b": "yy"}[s.Name] },
			want:     "Total Servers: 2\nHost: 1\nContainer: 1\nVM: 0\nMessages: b.sock a.shm a.sock\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]Server(nil), tt.servers...)
			got := Expected(tt.servers, tt.infoName).String()
			if got != tt.want {
				t.Errorf("Expected(%v) = %q, want %q", tt.servers, got, tt.want)
			}
			if _, err := report.Parse(got); err != nil {
				t.Errorf("report.Parse(Expected(%v)) = %v, want nil error", tt.servers, err)
			}
			for i := range in {
				if in[i].Name != tt.servers[i].Name {
					t.Fatalf("Expected reordered its input: %v", tt.servers)
				}
			}
		})
	}
}

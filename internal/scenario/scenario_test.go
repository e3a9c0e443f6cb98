package scenario

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadDefault(t *testing.T) {
	sc, err := Load("")
	if err != nil {
		t.Fatalf("Load(%q) = %v, want nil error", "", err)
	}
	if sc.File != DefaultName {
		t.Errorf("Load(%q).File = %q, want %q", "", sc.File, DefaultName)
	}
	type row struct {
		Name    string
		Env     Env
		Port    int
		ProjID  int
		ShmPath string
		IPC     IPC
		Network Network
	}
	var got []row
	for _, s := range sc.Servers {
		got = append(got, row{s.Name, s.Env, s.Port, s.ProjID, s.ShmPath, s.IPC, s.Network})
	}
	want := []row{
		{"host1", EnvHost, 31000, 1, "shm/host1", "", ""},
		{"host2", EnvHost, 31001, 2, "shm/host2", "", ""},
		{"docker1", EnvDocker, 31002, 3, "shm/docker1", IPCPrivate, NetworkBridge},
		{"docker2", EnvDocker, 31003, 4, "shm/docker2", IPCPrivate, NetworkBridge},
		{"vm1", EnvVM, 31004, 5, "shm/vm1", "", ""},
		{"apptainer1", EnvApptainer, 31005, 6, "shm/apptainer1", IPCPrivate, NetworkHost},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(%q) servers = %+v, want %+v", "", got, want)
	}
}

// TestDefaultComment keeps the report quoted at the top of default.toml in step
// with the one Expected derives from it.
func TestDefaultComment(t *testing.T) {
	sc, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	var quoted strings.Builder
	for _, line := range strings.Split(string(DefaultTOML()), "\n") {
		for _, p := range []string{"Total Servers:", "Host:", "Container:", "VM:", "Messages:"} {
			if rest, ok := strings.CutPrefix(line, "#   "+p); ok {
				quoted.WriteString(p + rest + "\n")
			}
		}
	}
	if got := Expected(sc.Servers, nil).String(); got != quoted.String() {
		t.Errorf("Expected(default) = %q, but default.toml says %q", got, quoted.String())
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lab.toml")
	text := "accept_timeout = \"5s\"\n[[server]]\nname = \"a\"\nenv = \"host\"\nshm_msg = \"x\"\nsocket_msg = \"y\"\n"
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := Load(p)
	if err != nil {
		t.Fatalf("Load(%q) = %v, want nil error", p, err)
	}
	if sc.File != p || len(sc.Servers) != 1 || sc.AcceptTimeout != 5*time.Second {
		t.Errorf("Load(%q) = %+v, want File %q, one server, accept_timeout 5s", p, sc, p)
	}

	missing := filepath.Join(t.TempDir(), "missing.toml")
	if _, err := Load(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(%q) = %v, want fs.ErrNotExist naming the file", missing, err)
	}
}

// server is a valid [[server]] table for name with extra lines appended.
func server(name, env string, extra ...string) string {
	s := "[[server]]\nname = \"" + name + "\"\nenv = \"" + env + "\"\nshm_msg = \"" + name + "-shm\"\nsocket_msg = \"" + name + "-socket\"\n"
	for _, e := range extra {
		s += e + "\n"
	}
	return s
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Scenario // File is always "t.toml"
	}{
		{
			name: "everything set",
			text: "port_base = 40000\naccept_timeout = \"2m\"\n" + server("c", "docker",
				"port = 5000", `shm_path = "keys/c"`, "proj_id = 9", `ipc = "host"`, `network = "none"`,
				`extra_args = ["--memory=64m"]`, `expect = "VM"`),
			want: Scenario{PortBase: 40000, AcceptTimeout: 2 * time.Minute, Servers: []Server{{
				Name: "c", Env: EnvDocker, Port: 5000, ShmPath: "keys/c", ProjID: 9,
				ShmMsg: "c-shm", SocketMsg: "c-socket", IPC: IPCHost, Network: NetworkNone,
				ExtraArgs: []string{"--memory=64m"}, Expect: "VM",
			}}},
		},
		{
			name: "defaults filled in",
			text: server("h", "host") + server("a", "apptainer") + server("b", "apptainer", "containall = true", `network = "none"`) +
				server("p", "podman", `network = "host"`) + server("v", "vm", `extra_args = ["-m", "256"]`) +
				server("u", "unshare") + server("n", "unshare", `network = "none"`),
			want: Scenario{PortBase: DefaultPortBase, Servers: []Server{
				{Name: "h", Env: EnvHost, Port: 31000, ProjID: 1, ShmPath: "shm/h", ShmMsg: "h-shm", SocketMsg: "h-socket"},
				{Name: "a", Env: EnvApptainer, Port: 31001, ProjID: 2, ShmPath: "shm/a", ShmMsg: "a-shm", SocketMsg: "a-socket", IPC: IPCPrivate, Network: NetworkHost},
				{Name: "b", Env: EnvApptainer, Port: 31002, ProjID: 3, ShmPath: "shm/b", ShmMsg: "b-shm", SocketMsg: "b-socket", IPC: IPCPrivate, Network: NetworkNone, Containall: true},
				{Name: "p", Env: EnvPodman, Port: 31003, ProjID: 4, ShmPath: "shm/p", ShmMsg: "p-shm", SocketMsg: "p-socket", IPC: IPCPrivate, Network: NetworkHost},
				{Name: "v", Env: EnvVM, Port: 31004, ProjID: 5, ShmPath: "shm/v", ShmMsg: "v-shm", SocketMsg: "v-socket", ExtraArgs: []string{"-m", "256"}},
				{Name: "u", Env: EnvUnshare, Port: 31005, ProjID: 6, ShmPath: "shm/u", ShmMsg: "u-shm", SocketMsg: "u-socket", IPC: IPCPrivate, Network: NetworkHost},
				{Name: "n", Env: EnvUnshare, Port: 31006, ProjID: 7, ShmPath: "shm/n", ShmMsg: "n-shm", SocketMsg: "n-socket", IPC: IPCPrivate, Network: NetworkNone},
			}},
		},
		{
			name: "shm_path cleaned",
			text: server("h", "host", `shm_path = "keys//./h"`),
			want: Scenario{PortBase: DefaultPortBase, Servers: []Server{
				{Name: "h", Env: EnvHost, Port: 31000, ProjID: 1, ShmPath: "keys/h", ShmMsg: "h-shm", SocketMsg: "h-socket"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("t.toml", []byte(tt.text))
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want nil error", tt.text, err)
			}
			tt.want.File = "t.toml"
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Parse(%q) =\n%+v\nwant\n%+v", tt.text, *got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		kind error    // nil: any error will do
		want []string // substrings of the error's text, besides the file's name
	}{
		{"syntax", "[[server]]\nname = \n", nil, []string{"line 2"}},
		{"wrong type", server("a", "host", `port = "eighty"`), nil, []string{"port"}},
		{"unknown top key", "colour = 1\n" + server("a", "host"), ErrUnknownKey, []string{`"colour"`}},
		{"misspelt table", "[[servers]]\nname = \"a\"\n", ErrUnknownKey, []string{`"servers"`, `did you mean "server"?`}},
		{"unknown server key", server("a", "host") + server("b", "docker", `ipcc = "host"`), ErrUnknownKey, []string{`server "b": unknown key "ipcc" (did you mean "ipc"?)`}},
		{"unknown key, second server", server("a", "host", "colour = 1") + server("b", "host", "colour = 2"), ErrUnknownKey, []string{`server "a": unknown key "colour"`, `server "b": unknown key "colour"`}},
		{"unknown table", "[lab]\nx = 1\n" + server("a", "host"), ErrUnknownKey, []string{`unknown key "lab"`, `unknown key "lab.x"`}},
		{"integer timeout", "accept_timeout = 120\n" + server("a", "host"), ErrBadTimeout, []string{`scenario t.toml: accept_timeout = 120 would mean nanoseconds; write a duration such as "120s"`}},
		{"negative timeout", "accept_timeout = \"-1s\"\n" + server("a", "host"), ErrBadTimeout, []string{"negative"}},
		{"no servers", "port_base = 40000\n", ErrNoServers, nil},
		{"port_base", "port_base = 70000\n" + server("a", "host"), ErrBadPort, []string{"port_base 70000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tt.text))
			if err == nil || (tt.kind != nil && !errors.Is(err, tt.kind)) {
				t.Fatalf("Parse(%q) = %v, want %v", tt.text, err, tt.kind)
			}
			for _, w := range append([]string{"scenario t.toml: "}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse(%q) = %q, want it to contain %q", tt.text, err, w)
				}
			}
		})
	}
}

func TestUseEngine(t *testing.T) {
	in := []Server{{Name: "h", Env: EnvHost}, {Name: "d", Env: EnvDocker}, {Name: "p", Env: EnvPodman}, {Name: "a", Env: EnvApptainer}}
	got, err := UseEngine(in, EnvPodman)
	if err != nil {
		t.Fatalf("UseEngine(%v, podman) = %v", in, err)
	}
	var envs []Env
	for _, s := range got {
		envs = append(envs, s.Env)
	}
	if want := []Env{EnvHost, EnvPodman, EnvPodman, EnvApptainer}; !reflect.DeepEqual(envs, want) {
		t.Errorf("UseEngine(%v, podman) envs = %v, want %v", in, envs, want)
	}
	if in[1].Env != EnvDocker {
		t.Errorf("UseEngine changed its input: %v", in)
	}
	if _, err := UseEngine(in, EnvVM); !errors.Is(err, ErrUnknownEnv) {
		t.Errorf("UseEngine(%v, vm) = %v, want %v", in, err, ErrUnknownEnv)
	}
}

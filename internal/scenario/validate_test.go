package scenario

import (
	"errors"
	"strings"
	"testing"
)

// leaves returns the errors joined in err, or err itself.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestValidateErrors(t *testing.T) {
	long := strings.Repeat("x", 65)
	tests := []struct {
		name   string
		text   string // appended to a valid server "ok"
		server string // how the error names the server
		kind   error
		want   string
	}{
		{"missing name", "[[server]]\nenv = \"host\"\nshm_msg = \"a\"\nsocket_msg = \"b\"\n", "server #2 (no name)", ErrBadName, "missing name"},
		{"slash in name", server("a/b", "host"), `server "a/b"`, ErrBadName, "not usable as a file name"},
		{"dot dot", server("..", "host"), `server ".."`, ErrBadName, "not usable as a file name"},
		{"hidden", server(".a", "host"), `server ".a"`, ErrBadName, "not usable as a file name"},
		{"space in name", server("a b", "host"), `server "a b"`, ErrBadName, "not usable as a file name"},
		{"long name", server(long, "host"), `server "` + long + `"`, ErrBadName, "at most 64 bytes"},
		{"duplicate", server("ok", "docker"), `server "ok"`, ErrDuplicateName, "server #2 reuses the name of server #1"},
		{"unknown env", server("a", "lxc"), `server "a"`, ErrUnknownEnv, `unknown env "lxc" (want "host", "docker", "podman", "apptainer", "vm" or "unshare")`},
		{"missing env", "[[server]]\nname = \"a\"\nshm_msg = \"a\"\nsocket_msg = \"b\"\n", `server "a"`, ErrUnknownEnv, "missing env"},
		{"port high", server("a", "host", "port = 70000"), `server "a"`, ErrBadPort, "port 70000 outside 1..65535"},
		{"port negative", server("a", "host", "port = -5"), `server "a"`, ErrBadPort, "port -5 outside 1..65535"},
		{"proj_id 256", server("a", "host", "proj_id = 256"), `server "a"`, ErrBadProjID, "proj_id 256 has its low 8 bits zero"},
		{"proj_id 512", server("a", "host", "proj_id = 512"), `server "a"`, ErrBadProjID, "low 8 bits zero"},
		{"proj_id 300", server("a", "host", "proj_id = 300"), `server "a"`, ErrBadProjID, "proj_id 300 outside 1..255"},
		{"proj_id negative", server("a", "host", "proj_id = -1"), `server "a"`, ErrBadProjID, "proj_id -1 outside 1..255"},
		{"shm_path absolute", server("a", "host", `shm_path = "/tmp/a"`), `server "a"`, ErrBadShmPath, "relative to the shared directory"},
		{"shm_path escapes", server("a", "host", `shm_path = "../a"`), `server "a"`, ErrBadShmPath, "stay inside it"},
		{"shm_path in info", server("a", "host", `shm_path = "info/a"`), `server "a"`, ErrBadShmPath, "read it as an info file"},
		{"shm_path is info", server("a", "host", `shm_path = "./info"`), `server "a"`, ErrBadShmPath, "read it as an info file"},
		{"shm_path newline", server("a", "host", `shm_path = "a\nb"`), `server "a"`, ErrBadShmPath, "white space"},
		{"empty shm_msg", "[[server]]\nname = \"a\"\nenv = \"host\"\nsocket_msg = \"b\"\n", `server "a"`, ErrBadMessage, "missing shm_msg"},
		{"empty socket_msg", "[[server]]\nname = \"a\"\nenv = \"host\"\nshm_msg = \"b\"\nsocket_msg = \"\"\n", `server "a"`, ErrBadMessage, "missing socket_msg"},
		{"space in message", "[[server]]\nname = \"a\"\nenv = \"host\"\nshm_msg = \"hello world\"\nsocket_msg = \"b\"\n", `server "a"`, ErrBadMessage, `shm_msg "hello world" holds white space`},
		{"tab in message", "[[server]]\nname = \"a\"\nenv = \"host\"\nshm_msg = \"b\"\nsocket_msg = \"x\\ty\"\n", `server "a"`, ErrBadMessage, "socket_msg \"x\\ty\" holds white space"},
		{"no-break space", "[[server]]\nname = \"a\"\nenv = \"host\"\nshm_msg = \"b\"\nsocket_msg = \"x\u00a0y\"\n", `server "a"`, ErrBadMessage, "holds white space"},
		{"control in message", "[[server]]\nname = \"a\"\nenv = \"host\"\nshm_msg = \"x\\u0007\"\nsocket_msg = \"b\"\n", `server "a"`, ErrBadMessage, "control character"},
		{"long shm_msg", "[[server]]\nname = \"a\"\nenv = \"host\"\nshm_msg = \"" + strings.Repeat("m", 4096) + "\"\nsocket_msg = \"b\"\n", `server "a"`, ErrBadMessage, "shm_msg is 4096 bytes long (at most 4095)"},
		{"ipc on host", server("a", "host", `ipc = "host"`), `server "a"`, ErrBadOption, "ipc is for containers, not host servers"},
		{"ipc unknown", server("a", "docker", `ipc = "shareable"`), `server "a"`, ErrBadOption, `unknown ipc "shareable"`},
		{"network on vm", server("a", "vm", `network = "none"`), `server "a"`, ErrBadOption, "network is for containers, not vm servers"},
		{"bridge for apptainer", server("a", "apptainer", `network = "bridge"`), `server "a"`, ErrBadOption, `network "bridge" does not fit apptainer (want "host" or "none")`},
		{"bridge for unshare", server("a", "unshare", `network = "bridge"`), `server "a"`, ErrBadOption, `network "bridge" does not fit unshare (want "host" or "none")`},
		{"extra_args on unshare", server("a", "unshare", `extra_args = ["--fork"]`), `server "a"`, ErrBadOption, "a unshare server has none"},
		{"containall on unshare", server("a", "unshare", "containall = true"), `server "a"`, ErrBadOption, "containall is for apptainer, not unshare servers"},
		{"port with unshare", server("a", "host", "port = 31500") + server("b", "unshare", "port = 31500", `network = "none"`), `server "b"`, ErrCollision, `port 31500 is also server "a"'s`},
		{"containall on docker", server("a", "docker", "containall = true"), `server "a"`, ErrBadOption, "containall is for apptainer, not docker servers"},
		{"containall with ipc host", server("a", "apptainer", "containall = true", `ipc = "host"`), `server "a"`, ErrBadOption, `contradicts ipc = "host"`},
		{"extra_args on host", server("a", "host", `extra_args = ["-v"]`), `server "a"`, ErrBadOption, "a host server has none"},
		{"docker --ipc", server("a", "docker", `extra_args = ["--ipc=host"]`), `server "a"`, ErrBadOption, `extra_args holds "--ipc=host"`},
		{"podman --network", server("a", "podman", `extra_args = ["--network", "host"]`), `server "a"`, ErrBadOption, `extra_args holds "--network"`},
		{"apptainer -C", server("a", "apptainer", `extra_args = ["-C"]`), `server "a"`, ErrBadOption, `extra_args holds "-C"`},
		{"vm -nic", server("a", "vm", `extra_args = ["-nic", "user"]`), `server "a"`, ErrBadOption, "the lab sets up the VM's network itself"},
		{"expect", server("a", "docker", `expect = "host"`), `server "a"`, ErrBadExpect, `unknown class "host"`},
		{"port with host server", server("a", "host", "port = 31500") + server("b", "host", "port = 31500"), `server "b"`, ErrCollision, `port 31500 is also server "a"'s`},
		{"port with network=host", server("a", "host", "port = 31500") + server("b", "docker", "port = 31500", `network = "host"`), `server "b"`, ErrCollision, `port 31500 is also server "a"'s`},
		{"port with apptainer", server("a", "host", "port = 31500") + server("b", "apptainer", "port = 31500", "containall = true"), `server "b"`, ErrCollision, `port 31500 is also server "a"'s`},
		{"port with network=none", server("a", "host", "port = 31500") + server("b", "podman", "port = 31500", `network = "none"`), `server "b"`, ErrCollision, `port 31500 is also server "a"'s`},
		{"same key", server("a", "host", "proj_id = 7", `shm_path = "k"`) + server("b", "docker", "proj_id = 7", `shm_path = "./k"`), `server "b"`, ErrCollision, `shm_path "k" with proj_id 7 is also server "a"'s`},
		{"same key, default path", server("a", "host", "proj_id = 7") + server("b", "vm", "proj_id = 7", `shm_path = "shm/a"`), `server "b"`, ErrCollision, `shm_path "shm/a" with proj_id 7 is also server "a"'s`},
		{"shm_path is the shm dir", server("a", "host", `shm_path = "shm"`), `server "a"`, ErrCollision, `shm_path "shm" would have to be a file and also the directory holding server "ok"'s "shm/ok"`},
		{"shm_path under another", server("a", "host", `shm_path = "k/a"`) + server("b", "host", `shm_path = "k"`), `server "b"`, ErrCollision, `shm_path "k" would have to be a file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := server("ok", "host") + tt.text
			_, err := Parse("t.toml", []byte(text))
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Parse(%q) = %v, want %v", text, err, tt.kind)
			}
			prefix := "scenario t.toml: " + tt.server + ": "
			found := false
			for _, e := range leaves(err) {
				var se *Error
				if !errors.As(e, &se) || se.File != "t.toml" || se.Index == 0 {
					t.Errorf("Parse(%q) gave %v, want an *Error naming the file and the server", text, e)
				}
				if errors.Is(e, tt.kind) && strings.HasPrefix(e.Error(), prefix) && strings.Contains(e.Error(), tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("Parse(%q) = %q, want an error starting %q containing %q", text, err, prefix, tt.want)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct{ name, text string }{
		{"same port, own namespaces", server("a", "host", "port = 31500") + server("b", "docker", "port = 31500") + server("c", "podman", "port = 31500") + server("d", "vm", "port = 31500")},
		{"same path, other proj_id", server("a", "host", "proj_id = 7", `shm_path = "k"`) + server("b", "host", "proj_id = 8", `shm_path = "k"`)},
		{"same proj_id, other path", server("a", "host", "proj_id = 7") + server("b", "host", "proj_id = 7")},
		{"port 0 means unset", server("a", "host", "port = 0", "proj_id = 0")},
		{"apptainer network none", server("a", "apptainer", `network = "none"`, `ipc = "host"`)},
		{"flag-like extra args", server("a", "docker", `extra_args = ["--network-alias=x", "--memory=64m"]`)},
		{"names", server("A", "host") + server("a.b_c-9", "host") + server("9", "host")},
		{"unicode message", server("u", "host") + "[[server]]\nname = \"v\"\nenv = \"host\"\nshm_msg = \"héllo\"\nsocket_msg = \"日本\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse("t.toml", []byte(tt.text)); err != nil {
				t.Errorf("Parse(%q) = %v, want nil error", tt.text, err)
			}
		})
	}
}

// TestValidateReportsAll checks that every problem of a file is reported at once.
func TestValidateReportsAll(t *testing.T) {
	text := server("a", "lxc", "port = 0", "proj_id = 256") + server("a", "host", `ipc = "host"`)
	_, err := Parse("t.toml", []byte(text))
	var got []string
	for _, e := range leaves(err) {
		got = append(got, e.Error())
	}
	want := []error{ErrUnknownEnv, ErrBadProjID, ErrBadOption, ErrDuplicateName}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("Parse(%q) = %q, want it to include %v", text, got, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Parse(%q) gave %d errors %q, want %d", text, len(got), got, len(want))
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "f.toml", Err: ErrNoServers}, "scenario f.toml: no servers"},
		{&Error{File: "f.toml", Index: 2, Err: ErrBadName}, "scenario f.toml: server #2 (no name): bad name"},
		{&Error{File: "f.toml", Index: 2, Server: "web", Err: ErrBadPort}, `scenario f.toml: server "web": bad port`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("(%#v).Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

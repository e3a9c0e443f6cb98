package runenv

import (
	"slices"
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/engine"
)

func TestUnshareArgv(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Bin: "/b/server"}, "unshare --ipc -- /b/server"},
		{Spec{Bin: "/b/server", IPC: IPCPrivate, Network: NetworkNone}, "unshare --ipc --net -- /b/server"},
		{Spec{Bin: "/b/server", IPC: IPCHost, Network: NetworkNone}, "unshare --net -- /b/server"},
		{Spec{Bin: "/b/server", IPC: IPCHost, Network: NetworkHost}, "unshare -- /b/server"},
	}
	for _, tt := range tests {
		if got := strings.Join(UnshareArgv(tt.spec), " "); got != tt.want {
			t.Errorf("UnshareArgv(IPC %q, Network %q) = %q, want %q", tt.spec.IPC, tt.spec.Network, got, tt.want)
		}
	}
}

// The lab's containers are least-privileged, labelled and named after the
// Runner; an untrusted server runs as the uid it is given.
func TestContainerSpec(t *testing.T) {
	r := New(Config{Dir: "/lab/run", SharedDir: "/lab/shared", Label: "3f2a91c0"})
	spec := Spec{Name: "c1", Kind: Docker, Args: []string{"-port", "1"}, IPC: IPCHost, Network: NetworkNone, ExtraArgs: []string{"--memory=64m"}}
	argv, err := r.ContainerSpec(spec, "localhost/isolab-server:abc").Argv()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(argv, " ")
	for _, want := range []string{"--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges",
		"--label=isolab.run=3f2a91c0", "--name=isolab-3f2a91c0-c1", "--ipc=host", "--network=none",
		"--mount=type=bind,source=/lab/shared,target=/lab/shared", "--memory=64m localhost/isolab-server:abc -port 1"} {
		if !strings.Contains(line, want) {
			t.Errorf("container argv %q, want it to hold %q", line, want)
		}
	}
	spec.UID = 61234
	argv, _ = r.ContainerSpec(spec, "img").Argv()
	if !slices.Contains(argv, "--user=61234:61234") {
		t.Errorf("container argv with UID 61234 = %q, want --user=61234:61234", argv)
	}
	podman, _ := r.ContainerSpec(Spec{Name: "p1", Kind: Podman}, "img").Argv()
	if !slices.ContainsFunc(podman, func(a string) bool { return strings.HasPrefix(a, "--ulimit=nofile=") }) {
		t.Errorf("podman argv %q: want this process's nofile limit (engine.NewSpec)", podman)
	}
}

// Apptainer is not installed on the lab's machines: its command lines are
// checked here, against what was measured with Apptainer 1.5.3 (network
// "none" gives a server loopback only; --ipc, the host's IPC, --containall).
func TestApptainerArgv(t *testing.T) {
	r := New(Config{Dir: "/lab/run", SharedDir: "/lab/shared", ApptainerFlags: []string{"--no-home"}})
	tests := []struct {
		spec Spec
		want []string // consecutive, before the image
	}{
		{Spec{Name: "a1", IPC: IPCHost, Network: NetworkHost}, []string{"apptainer", "exec"}},
		{Spec{Name: "a2", IPC: IPCPrivate, Network: NetworkHost}, []string{"apptainer", "exec", "--ipc"}},
		{Spec{Name: "a3", IPC: IPCPrivate, Network: NetworkNone}, []string{"apptainer", "exec", "--ipc", "--net", "--network", "none"}},
		{Spec{Name: "a4", Containall: true, IPC: IPCPrivate, Network: NetworkHost}, []string{"apptainer", "exec", "--containall"}},
	}
	for _, tt := range tests {
		tt.spec.Kind, tt.spec.Args = Apptainer, []string{"-port", "1"}
		argv, err := r.apptainerArgv(tt.spec, "/lab/run/isolab-server-abc.sif")
		if err != nil {
			t.Errorf("%s: %v", tt.spec.Name, err)
			continue
		}
		if !slices.Equal(argv[:len(tt.want)], tt.want) {
			t.Errorf("%s: apptainer argv %q, want it to start %q", tt.spec.Name, argv, tt.want)
		}
		tail := []string{"--bind", "/lab/shared:/lab/shared", "--no-home", "/lab/run/isolab-server-abc.sif", engine.ServerPath, "-port", "1"}
		if !slices.Equal(argv[len(argv)-len(tail):], tail) {
			t.Errorf("%s: apptainer argv %q, want it to end %q", tt.spec.Name, argv, tail)
		}
	}
}

func TestGuestName(t *testing.T) {
	for in, want := range map[string]string{"vm1": "vm1", "docker_ipc.host": "docker-ipc-host"} {
		if got := GuestName(in); got != want {
			t.Errorf("GuestName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, bad := range []string{"", "-x", "a/b", "a b", strings.Repeat("n", 64)} {
		if checkName(bad) == nil {
			t.Errorf("checkName(%q) = nil, want an error", bad)
		}
	}
}

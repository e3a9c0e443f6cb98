package engine

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var serverArgs = []string{"-port", "7001", "-shm-path", "/lab/shared/shm/c1", "-proj-id", "3",
	"-info-dir", "/lab/shared/info", "-info-name", "c1", "-shm-msg", "hi shm", "-socket-msg", "hi sock"}

// leastPrivileged is what every Docker and Podman server gets, in order.
func leastPrivileged(k Kind, name string) []string {
	return []string{string(k), "run", "--detach", "--pull=never",
		"--name=isolab-" + name, "--label=isolab=1", "--label=isolab.server=" + name,
		"--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges",
		"--user=1000:1000", "--mount=type=bind,source=/lab/shared,target=/lab/shared"}
}

func join(parts ...[]string) []string { return slices.Concat(parts...) }

func TestSpecArgv(t *testing.T) {
	nofile := Ulimit{Name: "nofile", Soft: 1024, Hard: 1024}
	nproc := Ulimit{Name: "nproc", Soft: 1024, Hard: 1024}
	common := []Option{WithUser(1000, 1000), WithSharedDir("/lab/shared"), WithArgs(serverArgs...)}
	tests := []struct {
		name string
		spec Spec
		want []string
	}{
		{
			"docker defaults",
			NewSpec(Docker, "c1", "localhost/isolab-server:abc", common...),
			join(leastPrivileged(Docker, "c1"), []string{"localhost/isolab-server:abc"}, serverArgs),
		},
		{
			"docker ipc host shares the segment with the host",
			NewSpec(Docker, "c2", "img", append(common, WithIPC(IPCHost))...),
			join(leastPrivileged(Docker, "c2"), []string{"--ipc=host", "img"}, serverArgs),
		},
		{
			"docker private ipc, no network, extra label and flags",
			NewSpec(Docker, "c3", "img", append(common, WithIPC(IPCPrivate), WithNetwork(NetworkNone),
				WithLabel("isolab.run", "42"), WithEngineFlags("--memory=64m"))...),
			join(leastPrivileged(Docker, "c3")[:7], []string{"--label=isolab.run=42"}, leastPrivileged(Docker, "c3")[7:],
				[]string{"--ipc=private", "--network=none", "--memory=64m", "img"}, serverArgs),
		},
		{
			"docker host network",
			NewSpec(Docker, "c4", "img", append(common, WithNetwork(NetworkHost))...),
			join(leastPrivileged(Docker, "c4"), []string{"--network=host", "img"}, serverArgs),
		},
		{
			"podman with ulimits",
			NewSpec(Podman, "p1", "img", append(common, WithUlimits(nofile, nproc), WithNetwork(NetworkBridge))...),
			join(leastPrivileged(Podman, "p1"), []string{"--network=bridge", "--ulimit=nofile=1024:1024", "--ulimit=nproc=1024:1024", "img"}, serverArgs),
		},
		{
			"podman unlimited",
			NewSpec(Podman, "p2", "img", append(common, WithUlimits(Ulimit{"nproc", math.MaxUint64, math.MaxUint64}))...),
			join(leastPrivileged(Podman, "p2"), []string{"--ulimit=nproc=-1:-1", "img"}, serverArgs),
		},
		{
			"podman container name",
			NewSpec(Podman, "p3", "img", append(common, WithUlimits(), WithContainerName("lab7-p3"))...),
			join([]string{"podman", "run", "--detach", "--pull=never", "--name=lab7-p3"}, leastPrivileged(Podman, "p3")[5:], []string{"img"}, serverArgs),
		},
		{
			"apptainer default shares the host's namespaces",
			NewSpec(Apptainer, "a1", "/lab/server.sif", WithSharedDir("/lab/shared"), WithArgs(serverArgs...)),
			join([]string{"apptainer", "exec", "--bind", "/lab/shared:/lab/shared", "/lab/server.sif", "/server"}, serverArgs),
		},
		{
			"apptainer private ipc",
			NewSpec(Apptainer, "a2", "s.sif", WithSharedDir("/lab/shared"), WithIPC(IPCPrivate), WithArgs(serverArgs...)),
			join([]string{"apptainer", "exec", "--ipc", "--bind", "/lab/shared:/lab/shared", "s.sif", "/server"}, serverArgs),
		},
		{
			"apptainer network none: its own namespace with loopback only",
			NewSpec(Apptainer, "a4", "s.sif", WithSharedDir("/lab/shared"), WithNetwork(NetworkNone),
				WithDropCaps("CAP_SYS_RESOURCE"), WithArgs(serverArgs...)),
			join([]string{"apptainer", "exec", "--net", "--network", "none", "--drop-caps", "CAP_SYS_RESOURCE",
				"--bind", "/lab/shared:/lab/shared", "s.sif", "/server"}, serverArgs),
		},
		{
			"apptainer containall as root",
			NewSpec(Apptainer, "a3", "s.sif", WithSharedDir("/lab/shared"), WithContainAll(), WithIPC(IPCPrivate),
				WithDropCaps("CAP_SYS_RESOURCE"), WithEngineFlags("--no-home"), WithArgs(serverArgs...)),
			join([]string{"apptainer", "exec", "--containall", "--drop-caps", "CAP_SYS_RESOURCE",
				"--bind", "/lab/shared:/lab/shared", "--no-home", "s.sif", "/server"}, serverArgs),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.spec.Argv()
			if err != nil {
				t.Fatalf("Argv(%+v) error: %v", tt.spec, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Argv(%+v)\n got %q\nwant %q", tt.spec, got, tt.want)
			}
		})
	}
}

func TestSpecArgvErrors(t *testing.T) {
	ok := []Option{WithUser(1, 1), WithSharedDir("/lab/shared")}
	tests := []struct {
		name string
		spec Spec
		want string // in the error
	}{
		{"no name", NewSpec(Docker, "", "img", ok...), "bad server name"},
		{"name with a slash", NewSpec(Docker, "a/b", "img", ok...), "bad server name"},
		{"no image", NewSpec(Docker, "c1", "", ok...), "no image"},
		{"no user", NewSpec(Docker, "c1", "img", WithSharedDir("/lab/shared")), "uid:gid"},
		{"no shared dir", NewSpec(Docker, "c1", "img", WithUser(1, 1)), "no shared directory"},
		{"relative shared dir", NewSpec(Docker, "c1", "img", WithUser(1, 1), WithSharedDir("lab/shared")), "clean absolute"},
		{"unclean shared dir", NewSpec(Docker, "c1", "img", WithUser(1, 1), WithSharedDir("/lab/../shared")), "clean absolute"},
		{"comma in shared dir", NewSpec(Podman, "c1", "img", WithUser(1, 1), WithSharedDir("/lab/a,b")), "bind syntax"},
		{"bad ipc", NewSpec(Docker, "c1", "img", append(ok, WithIPC("container:x"))...), "unknown IPC"},
		{"bad network", NewSpec(Docker, "c1", "img", append(ok, WithNetwork("slirp"))...), "unknown network"},
		{"containall on docker", NewSpec(Docker, "c1", "img", append(ok, WithContainAll())...), "Apptainer flags"},
		{"apptainer bridge", NewSpec(Apptainer, "a1", "s.sif", WithSharedDir("/s"), WithNetwork(NetworkBridge)), "not \"bridge\""},
		{"apptainer user", NewSpec(Apptainer, "a1", "s.sif", WithSharedDir("/s"), WithUser(1, 1)), "calling user"},
		{"unknown engine", NewSpec("lxc", "x1", "img", ok...), "unknown engine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.spec.Argv()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Argv(%+v) = %q, %v; want an error containing %q", tt.spec, got, err, tt.want)
			}
		})
	}
}

func TestNewSpecPodmanCopiesHostUlimits(t *testing.T) {
	s := NewSpec(Podman, "p1", "img")
	if !slices.Equal(s.Ulimits, HostUlimits()) {
		t.Errorf("NewSpec(Podman).Ulimits = %v, want HostUlimits() = %v", s.Ulimits, HostUlimits())
	}
	if d := NewSpec(Docker, "c1", "img"); d.Ulimits != nil {
		t.Errorf("NewSpec(Docker).Ulimits = %v, want none (the daemon's)", d.Ulimits)
	}
}

func TestHelperArgv(t *testing.T) {
	type builder func(Kind) ([]string, error)
	tests := []struct {
		name string
		f    builder
		want map[Kind][]string // nil entry: an error is wanted
	}{
		{"build", func(k Kind) ([]string, error) {
			return BuildArgv(k, "localhost/isolab-server:abc", "images/Dockerfile", "bin")
		}, map[Kind][]string{
			Docker:    {"docker", "build", "--file=images/Dockerfile", "--tag=localhost/isolab-server:abc", "--label=isolab=1", "bin"},
			Podman:    {"podman", "build", "--file=images/Dockerfile", "--tag=localhost/isolab-server:abc", "--label=isolab=1", "bin"},
			Apptainer: {"apptainer", "build", "--force", "localhost/isolab-server:abc", "images/Dockerfile"},
		}},
		{"image id", func(k Kind) ([]string, error) { return ImageIDArgv(k, "r:t") }, map[Kind][]string{
			Docker:    {"docker", "image", "inspect", "--format={{.Id}}", "r:t"},
			Podman:    {"podman", "image", "inspect", "--format={{.Id}}", "r:t"},
			Apptainer: nil,
		}},
		{"images", func(k Kind) ([]string, error) { return ImagesArgv(k, Label) }, map[Kind][]string{
			Docker:    {"docker", "images", "--filter=label=isolab=1", "--format={{.Repository}}:{{.Tag}}"},
			Podman:    {"podman", "images", "--filter=label=isolab=1", "--format={{.Repository}}:{{.Tag}}"},
			Apptainer: nil,
		}},
		{"rmi", func(k Kind) ([]string, error) { return RemoveImagesArgv(k, "a:1", "a:2") }, map[Kind][]string{
			Docker: {"docker", "rmi", "a:1", "a:2"}, Podman: {"podman", "rmi", "a:1", "a:2"}, Apptainer: nil,
		}},
		{"ps", func(k Kind) ([]string, error) { return PsArgv(k, "isolab.server=c1") }, map[Kind][]string{
			Docker:    {"docker", "ps", "--all", "--quiet", "--no-trunc", "--filter=label=isolab.server=c1"},
			Podman:    {"podman", "ps", "--all", "--quiet", "--no-trunc", "--filter=label=isolab.server=c1"},
			Apptainer: nil,
		}},
		{"stop rounds up to seconds", func(k Kind) ([]string, error) { return StopArgv(k, 1500*time.Millisecond, "id1", "id2") }, map[Kind][]string{
			Docker: {"docker", "stop", "--time=2", "id1", "id2"}, Podman: {"podman", "stop", "--time=2", "id1", "id2"}, Apptainer: nil,
		}},
		{"stop now", func(k Kind) ([]string, error) { return StopArgv(k, 0, "id1") }, map[Kind][]string{
			Docker: {"docker", "stop", "--time=0", "id1"}, Podman: {"podman", "stop", "--time=0", "id1"}, Apptainer: nil,
		}},
		{"rm", func(k Kind) ([]string, error) { return RmArgv(k, "id1") }, map[Kind][]string{
			Docker: {"docker", "rm", "--force", "id1"}, Podman: {"podman", "rm", "--force", "id1"}, Apptainer: nil,
		}},
		{"wait", func(k Kind) ([]string, error) { return WaitArgv(k, "id1") }, map[Kind][]string{
			Docker: {"docker", "wait", "id1"}, Podman: {"podman", "wait", "id1"}, Apptainer: nil,
		}},
		{"logs", func(k Kind) ([]string, error) { return LogsArgv(k, "id1") }, map[Kind][]string{
			Docker: {"docker", "logs", "id1"}, Podman: {"podman", "logs", "id1"}, Apptainer: nil,
		}},
		{"inspect", func(k Kind) ([]string, error) { return InspectArgv(k, "id1") }, map[Kind][]string{
			Docker:    {"docker", "container", "inspect", "--format=" + inspectFormat, "id1"},
			Podman:    {"podman", "container", "inspect", "--format=" + inspectFormat, "id1"},
			Apptainer: nil,
		}},
	}
	for _, tt := range tests {
		for _, k := range []Kind{Docker, Podman, Apptainer} {
			got, err := tt.f(k)
			want, ok := tt.want[k]
			switch {
			case !ok:
				t.Fatalf("%s: no expectation for %s", tt.name, k)
			case want == nil && err == nil:
				t.Errorf("%s(%s) = %q, want an error", tt.name, k, got)
			case want != nil && (err != nil || !slices.Equal(got, want)):
				t.Errorf("%s(%s) = %q, %v; want %q", tt.name, k, got, err, want)
			}
		}
	}
}

func TestParseInspect(t *testing.T) {
	tests := []struct {
		in   string
		want State
		err  bool
	}{
		{"running 0 4242 172.17.0.2\n", State{Status: "running", Pid: 4242, IPs: []string{"172.17.0.2"}}, false},
		{"exited 0 0 \n", State{Status: "exited"}, false},
		{"exited 137 0 10.88.0.3 fd00::3", State{Status: "exited", ExitCode: 137, IPs: []string{"10.88.0.3", "fd00::3"}}, false},
		{"created 0 0 <no value>", State{Status: "created"}, false},
		{"running", State{}, true},
		{"running x 1", State{}, true},
		{"running 0 y", State{}, true},
	}
	for _, tt := range tests {
		got, err := ParseInspect(tt.in)
		if (err != nil) != tt.err || got.Status != tt.want.Status || got.ExitCode != tt.want.ExitCode || got.Pid != tt.want.Pid || !slices.Equal(got.IPs, tt.want.IPs) {
			t.Errorf("ParseInspect(%q) = %+v, %v; want %+v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
	if !(State{Status: "running"}).Running() || (State{Status: "exited"}).Running() {
		t.Error("State.Running disagrees with Status")
	}
}

func TestEngineCommand(t *testing.T) {
	e := &Engine{Kind: Podman, Path: "/usr/bin/podman", Prefix: []string{"nsenter", "--net=/run/netns/lab", "--"}}
	got := e.Command([]string{"podman", "ps", "--all"})
	want := []string{"nsenter", "--net=/run/netns/lab", "--", "/usr/bin/podman", "ps", "--all"}
	if !slices.Equal(got, want) {
		t.Errorf("Command = %q, want %q", got, want)
	}
	if got := (&Engine{Kind: Docker}).Command([]string{"docker", "ps"}); !slices.Equal(got, []string{"docker", "ps"}) {
		t.Errorf("Command without path or prefix = %q", got)
	}
}

func TestKindPackage(t *testing.T) {
	for k, want := range map[Kind]string{Docker: "docker.io", Podman: "apt-get install podman", Apptainer: "not packaged"} {
		if got := k.Package(); !strings.Contains(got, want) {
			t.Errorf("%s.Package() = %q, want it to contain %q", k, got, want)
		}
	}
}

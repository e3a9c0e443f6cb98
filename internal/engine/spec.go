package engine

import (
	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Kind names a container engine; its value is also the engine's command.
type Kind string

// The engines the lab knows.
const (
	Docker    Kind = "docker"
	Podman    Kind = "podman"
	Apptainer Kind = "apptainer"
)

// Package returns how to install k's command on Debian or Ubuntu.
func (k Kind) Package() string {
	switch k {
	case Docker:
		return "apt-get install docker.io"
	case Podman:
		return "apt-get install podman"
	case Apptainer:
		return "apptainer is not packaged in Debian 12: go tool mage deps installs ../shared/apptainer where there is one, else install the Apptainer project's release package"
	}
	return "unknown engine " + string(k)
}

// oci reports whether k runs OCI containers with docker's command-line syntax.
func (k Kind) oci() bool { return k == Docker || k == Podman }

// Labels and paths shared by the images, the argv builders and the lab.
const (
	LabelKey       = "isolab"        // every lab container and image carries LabelKey=LabelValue
	LabelValue     = "1"             //
	Label          = "isolab=1"      // LabelKey=LabelValue, as a filter
	ServerLabelKey = "isolab.server" // a lab container's server name
	NamePrefix     = "isolab-"       // container name = NamePrefix + server name
	ServerPath     = "/server"       // the server binary inside every image
)

// IPC namespace settings (WithIPC).
const (
	IPCPrivate = "private" // its own IPC namespace (Apptainer: --ipc)
	IPCHost    = "host"    // the host's: its segments are visible to the host
)

// Network namespace settings (WithNetwork).
const (
	NetworkBridge = "bridge" // its own namespace on the engine's bridge
	NetworkHost   = "host"   // the host's network namespace
	NetworkNone   = "none"   // its own namespace with loopback only
)

// Ulimit is one resource limit set in the container (--ulimit NAME=SOFT:HARD).
type Ulimit struct {
	Name       string // nofile, nproc, ...
	Soft, Hard uint64 // math.MaxUint64 means unlimited
}

// String returns the limit in --ulimit syntax, e.g. "nofile=1024:1024".
func (u Ulimit) String() string {
	f := func(v uint64) string {
		if v == math.MaxUint64 {
			return "-1"
		}
		return strconv.FormatUint(v, 10)
	}
	return u.Name + "=" + f(u.Soft) + ":" + f(u.Hard)
}

// Spec is one server container invocation, as data. Build it with NewSpec and
// options; Argv turns it into a command line.
type Spec struct {
	Engine    Kind
	Name      string   // the lab's server name, e.g. "c1"
	Container string   // container name (Docker, Podman); default NamePrefix+Name
	Image     string   // image reference, or the SIF file for Apptainer
	User      string   // "uid:gid" the server runs as (Docker, Podman)
	SharedDir string   // absolute directory bound at the same path inside
	Labels    []string // extra "key=value" labels (Docker, Podman)
	IPC       string   // "", IPCPrivate or IPCHost; "" is the engine's default
	Network   string   // "", NetworkBridge, NetworkHost or NetworkNone
	Ulimits   []Ulimit // Docker, Podman
	// ContainAll runs an Apptainer server with --containall (its own IPC, PID
	// and mount namespaces, a clean environment, no home).
	ContainAll  bool
	DropCaps    []string // Apptainer --drop-caps, e.g. CAP_SYS_RESOURCE as root
	EngineFlags []string // extra flags, placed after the lab's own
	Args        []string // the server's arguments
}

// Option sets one field of a Spec.
type Option func(*Spec)

// NewSpec returns the invocation of the server name from image with engine k.
// Podman gets this process's own nofile and nproc limits by default: rootful
// Podman otherwise asks for limits above the hard ones, which fails where root
// lacks CAP_SYS_RESOURCE ("error setting rlimit type 7: operation not
// permitted"), and copying ours can never be refused.
func NewSpec(k Kind, name, image string, opts ...Option) Spec {
	s := Spec{Engine: k, Name: name, Image: image}
	if k == Podman {
		s.Ulimits = HostUlimits()
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// WithUser runs the server as uid:gid, normally the host user's, so that the
// files it writes in the shared directory belong to that user.
func WithUser(uid, gid int) Option {
	return func(s *Spec) { s.User = strconv.Itoa(uid) + ":" + strconv.Itoa(gid) }
}

// WithSharedDir binds dir at the same absolute path inside the container.
func WithSharedDir(dir string) Option { return func(s *Spec) { s.SharedDir = dir } }

// WithIPC sets the IPC namespace: IPCPrivate or IPCHost.
func WithIPC(mode string) Option { return func(s *Spec) { s.IPC = mode } }

// WithNetwork sets the network namespace: NetworkBridge, NetworkHost or NetworkNone.
func WithNetwork(mode string) Option { return func(s *Spec) { s.Network = mode } }

// WithUlimits replaces the resource limits (nil: the engine's defaults).
func WithUlimits(u ...Ulimit) Option { return func(s *Spec) { s.Ulimits = u } }

// WithLabel adds the label key=value to the container.
func WithLabel(key, value string) Option {
	return func(s *Spec) { s.Labels = append(s.Labels, key+"="+value) }
}

// WithContainerName names the container (default NamePrefix + server name).
func WithContainerName(n string) Option { return func(s *Spec) { s.Container = n } }

// WithContainAll runs an Apptainer server with --containall.
func WithContainAll() Option { return func(s *Spec) { s.ContainAll = true } }

// WithDropCaps drops capabilities in an Apptainer server (--drop-caps).
func WithDropCaps(caps ...string) Option {
	return func(s *Spec) { s.DropCaps = append(s.DropCaps, caps...) }
}

// WithEngineFlags appends flags to the engine's command line after the lab's
// own, so they can add to or override them (e.g. "--ipc=host").
func WithEngineFlags(flags ...string) Option {
	return func(s *Spec) { s.EngineFlags = append(s.EngineFlags, flags...) }
}

// WithArgs sets the server's arguments.
func WithArgs(args ...string) Option { return func(s *Spec) { s.Args = args } }

// ContainerName returns the container's name.
func (s Spec) ContainerName() string {
	if s.Container != "" {
		return s.Container
	}
	return NamePrefix + s.Name
}

var (
	nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	userRE = regexp.MustCompile(`^[0-9]+:[0-9]+$`)
)

// checkDir refuses a bind directory that is relative, unclean, or holds a
// character the engines' mount syntax uses as a separator.
func checkDir(dir string) error {
	switch {
	case dir == "":
		return errors.New("no shared directory (WithSharedDir)")
	case !filepath.IsAbs(dir) || filepath.Clean(dir) != dir:
		return fmt.Errorf("shared directory %q is not a clean absolute path", dir)
	case strings.ContainsAny(dir, ",:\n"):
		return fmt.Errorf("shared directory %q holds ',' or ':', which bind syntax cannot carry", dir)
	}
	return nil
}

// Argv returns the command line that starts s: detached for Docker and Podman
// (the command prints the container id), in the foreground for Apptainer (the
// caller runs it as a process and stops it with SIGTERM).
func (s Spec) Argv() ([]string, error) {
	if !nameRE.MatchString(s.Name) {
		return nil, fmt.Errorf("bad server name %q (letters, digits, '_', '.', '-')", s.Name)
	}
	if s.Image == "" {
		return nil, fmt.Errorf("server %s: no image", s.Name)
	}
	if err := checkDir(s.SharedDir); err != nil {
		return nil, fmt.Errorf("server %s: %w", s.Name, err)
	}
	switch s.Engine {
	case Docker, Podman:
		return s.ociArgv()
	case Apptainer:
		return s.apptainerArgv()
	}
	return nil, fmt.Errorf("server %s: unknown engine %q", s.Name, s.Engine)
}

func (s Spec) ociArgv() ([]string, error) {
	if !userRE.MatchString(s.User) {
		return nil, fmt.Errorf("server %s: user %q is not uid:gid (WithUser)", s.Name, s.User)
	}
	if !nameRE.MatchString(s.ContainerName()) {
		return nil, fmt.Errorf("server %s: bad container name %q", s.Name, s.ContainerName())
	}
	argv := []string{string(s.Engine), "run", "--detach", "--pull=never",
		"--name=" + s.ContainerName(),
		"--label=" + Label,
		"--label=" + ServerLabelKey + "=" + s.Name,
	}
	for _, l := range s.Labels {
		argv = append(argv, "--label="+l)
	}
	argv = append(argv,
		"--read-only",
		"--cap-drop=ALL",
		"--security-opt=no-new-privileges",
		"--user="+s.User,
		"--mount=type=bind,source="+s.SharedDir+",target="+s.SharedDir,
	)
	switch s.IPC {
	case "":
	case IPCPrivate, IPCHost:
		argv = append(argv, "--ipc="+s.IPC)
	default:
		return nil, fmt.Errorf("server %s: unknown IPC setting %q (want %s or %s)", s.Name, s.IPC, IPCPrivate, IPCHost)
	}
	switch s.Network {
	case "":
	case NetworkBridge, NetworkHost, NetworkNone:
		argv = append(argv, "--network="+s.Network)
	default:
		return nil, fmt.Errorf("server %s: unknown network %q (want %s, %s or %s)", s.Name, s.Network, NetworkBridge, NetworkHost, NetworkNone)
	}
	for _, u := range s.Ulimits {
		argv = append(argv, "--ulimit="+u.String())
	}
	if s.ContainAll || len(s.DropCaps) > 0 {
		return nil, fmt.Errorf("server %s: --containall and --drop-caps are Apptainer flags, not %s's", s.Name, s.Engine)
	}
	argv = append(argv, s.EngineFlags...)
	argv = append(argv, s.Image)
	return append(argv, s.Args...), nil
}

func (s Spec) apptainerArgv() ([]string, error) {
	argv := []string{string(Apptainer), "exec"}
	if s.ContainAll {
		argv = append(argv, "--containall")
	}
	switch s.IPC {
	case "", IPCHost:
	case IPCPrivate:
		if !s.ContainAll { // --containall implies --ipc
			argv = append(argv, "--ipc")
		}
	default:
		return nil, fmt.Errorf("server %s: unknown IPC setting %q (want %s or %s)", s.Name, s.IPC, IPCPrivate, IPCHost)
	}
	switch s.Network {
	case "", NetworkHost:
	case NetworkNone:
		// A network namespace of its own with loopback only (as root;
		// measured with Apptainer 1.5.3).
		argv = append(argv, "--net", "--network", "none")
	default:
		return nil, fmt.Errorf("server %s: Apptainer servers take network %s or %s here, not %q", s.Name, NetworkHost, NetworkNone, s.Network)
	}
	if s.User != "" || len(s.Ulimits) > 0 || len(s.Labels) > 0 {
		return nil, fmt.Errorf("server %s: Apptainer runs as the calling user and takes no ulimits or labels", s.Name)
	}
	if len(s.DropCaps) > 0 {
		argv = append(argv, "--drop-caps", strings.Join(s.DropCaps, ","))
	}
	argv = append(argv, "--bind", s.SharedDir+":"+s.SharedDir)
	argv = append(argv, s.EngineFlags...)
	argv = append(argv, s.Image, ServerPath)
	return append(argv, s.Args...), nil
}

// BuildArgv returns the command line that builds image ref from file (a
// Dockerfile, or an Apptainer definition) with the given context directory.
// Apptainer's command must run in contextDir, since %files paths are relative
// to where it runs; ref is then the SIF file to write.
func BuildArgv(k Kind, ref, file, contextDir string, buildArgs ...string) ([]string, error) {
	switch {
	case k.oci():
		argv := []string{string(k), "build", "--file=" + file, "--tag=" + ref, "--label=" + Label}
		for _, a := range buildArgs {
			argv = append(argv, "--build-arg="+a)
		}
		return append(argv, contextDir), nil
	case k == Apptainer:
		return []string{string(k), "build", "--force", ref, file}, nil
	}
	return nil, fmt.Errorf("unknown engine %q", k)
}

// ImportArgv returns the command line that makes image ref, labelled
// Label, from the root file system in the tar file root.
func ImportArgv(k Kind, root, ref string) ([]string, error) {
	if !k.oci() {
		return nil, fmt.Errorf("%s builds its images from definitions: no import", k)
	}
	return []string{string(k), "import", "--change=LABEL " + Label, root, ref}, nil
}

// ImageIDArgv returns the command line that prints image ref's id, and fails
// when there is no such image.
func ImageIDArgv(k Kind, ref string) ([]string, error) {
	if !k.oci() {
		return nil, fmt.Errorf("%s keeps images as files: no image id", k)
	}
	return []string{string(k), "image", "inspect", "--format={{.Id}}", ref}, nil
}

// ImagesArgv returns the command line that lists, one per line as
// repository:tag, the images labelled label (e.g. Label).
func ImagesArgv(k Kind, label string) ([]string, error) {
	if !k.oci() {
		return nil, fmt.Errorf("%s keeps images as files: nothing to list", k)
	}
	return []string{string(k), "images", "--filter=label=" + label, "--format={{.Repository}}:{{.Tag}}"}, nil
}

// RemoveImagesArgv returns the command line that deletes images refs.
func RemoveImagesArgv(k Kind, refs ...string) ([]string, error) {
	if !k.oci() {
		return nil, fmt.Errorf("%s keeps images as files: remove the file", k)
	}
	return append([]string{string(k), "rmi"}, refs...), nil
}

// PsArgv returns the command line that prints the full ids of every container,
// running or not, labelled label (e.g. Label, or ServerLabelKey+"=c1").
func PsArgv(k Kind, label string) ([]string, error) {
	if !k.oci() {
		return nil, fmt.Errorf("%s servers are processes: find them by pid", k)
	}
	return []string{string(k), "ps", "--all", "--quiet", "--no-trunc", "--filter=label=" + label}, nil
}

// StopArgv returns the command line that sends SIGTERM to the containers ids
// and SIGKILL after timeout (rounded up to whole seconds).
func StopArgv(k Kind, timeout time.Duration, ids ...string) ([]string, error) {
	if !k.oci() {
		return nil, fmt.Errorf("%s servers are processes: send SIGTERM to the pid", k)
	}
	secs := int((timeout + time.Second - 1) / time.Second)
	return append([]string{string(k), "stop", "--time=" + strconv.Itoa(secs)}, ids...), nil
}

// RmArgv returns the command line that removes the containers ids, killing
// those still running.
func RmArgv(k Kind, ids ...string) ([]string, error) {
	if !k.oci() {
		return nil, fmt.Errorf("%s servers are processes: nothing to remove", k)
	}
	return append([]string{string(k), "rm", "--force"}, ids...), nil
}

// WaitArgv returns the command line that waits for container id to exit and
// prints its exit status.
func WaitArgv(k Kind, id string) ([]string, error) {
	if !k.oci() {
		return nil, fmt.Errorf("%s servers are processes: wait for the pid", k)
	}
	return []string{string(k), "wait", id}, nil
}

// LogsArgv returns the command line that prints container id's output.
func LogsArgv(k Kind, id string) ([]string, error) {
	if !k.oci() {
		return nil, fmt.Errorf("%s servers are processes: their output is theirs to log", k)
	}
	return []string{string(k), "logs", id}, nil
}

// inspectFormat prints status, exit code, the pid of the container's process
// on the host (0 once it has exited) and the container's IPv4 addresses on
// one line; Docker and Podman both understand it.
const inspectFormat = `{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}{{range .NetworkSettings.Networks}} {{.IPAddress}}{{end}}`

// InspectArgv returns the command line that prints container id's state for
// ParseInspect.
func InspectArgv(k Kind, id string) ([]string, error) {
	if !k.oci() {
		return nil, fmt.Errorf("%s servers are processes: nothing to inspect", k)
	}
	return []string{string(k), "container", "inspect", "--format=" + inspectFormat, id}, nil
}

// State is what InspectArgv reports about a container.
type State struct {
	Status   string   // created, running, exited, ...
	ExitCode int      // meaningful once exited
	Pid      int      // its process on the host while it runs, else 0
	IPs      []string // its addresses on the engine's networks (none with host or none networks)
}

// Running reports whether the container's process is running.
func (s State) Running() bool { return s.Status == "running" }

// ParseInspect parses the output of InspectArgv.
func ParseInspect(out string) (State, error) {
	f := strings.Fields(out)
	if len(f) < 3 {
		return State{}, fmt.Errorf("parse inspect output %q: want status, exit code and pid", out)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return State{}, fmt.Errorf("parse inspect output %q: exit code: %w", out, err)
	}
	pid, err := strconv.Atoi(f[2])
	if err != nil {
		return State{}, fmt.Errorf("parse inspect output %q: pid: %w", out, err)
	}
	st := State{Status: f[0], ExitCode: code, Pid: pid}
	for _, ip := range f[3:] {
		if net.ParseIP(ip) != nil {
			st.IPs = append(st.IPs, ip)
		}
	}
	return st, nil
}

package runenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/engine"
	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/vm"
)

// Kind is an environment a server runs in.
type Kind string

// The environments.
const (
	Host      Kind = "host"      // a process on the host
	Unshare   Kind = "unshare"   // a process in IPC (and network) namespaces of its own, made by unshare(1)
	Docker    Kind = "docker"    // a Docker container
	Podman    Kind = "podman"    // a Podman container
	Apptainer Kind = "apptainer" // an Apptainer container: a process, as Apptainer keeps no daemon
	VM        Kind = "vm"        // a QEMU guest
)

// Namespace settings of a Spec, as internal/engine spells them.
const (
	IPCPrivate    = engine.IPCPrivate
	IPCHost       = engine.IPCHost
	NetworkBridge = engine.NetworkBridge
	NetworkHost   = engine.NetworkHost
	NetworkNone   = engine.NetworkNone
)

// Spec is one server to start.
type Spec struct {
	Name string // unique within the Runner: its log, container and guest are named after it
	Kind Kind
	Bin  string   // the static server binary, on the host
	Args []string // its arguments (server.CommandLine)
	// IPC and Network choose the namespaces of an unshare process or a
	// container: IPCPrivate or IPCHost; NetworkBridge, NetworkHost or
	// NetworkNone. "" is the environment's default.
	IPC, Network string
	Containall   bool     // Apptainer --containall
	ExtraArgs    []string // engine or QEMU flags, after the Runner's own
	Log          string   // file that gets the command line, then what the server prints
	// UID, when not 0, runs the server as that uid and gid (a container's
	// --user, a guest's server); for processes use Wrap.
	UID int
	// Wrap goes before a host process's command line, after the namespace's
	// nsenter: a sandbox that drops to another user, for example.
	Wrap []string
	// Untrusted marks a binary that is not isolab's: its container image is
	// removed when the Runner closes, isolab's stays cached.
	Untrusted bool
}

// Config is what a Runner needs to know of its surroundings.
type Config struct {
	// Dir is the Runner's own directory: the handles of running servers,
	// image build contexts, the guests' sockets and consoles.
	Dir string
	// SharedDir is bound into containers and guests at the same path.
	SharedDir string
	// Label names this Runner's containers and images, so that runs never
	// reap each other's: "isolab.run=LABEL".
	Label string
	// NetNS is the network namespace (a path such as /run/netns/NAME) every
	// process, engine command and guest starts in; "" is this process's own.
	NetNS string
	// DockerHost is the dockerd the docker commands talk to ("" is
	// $DOCKER_HOST's).
	DockerHost string
	// Dockerfile and ApptainerDef build a server's image from a directory
	// that holds the binary as "server" (images/ of the repository).
	Dockerfile, ApptainerDef string
	// SubmissionDockerfile, when set, builds an untrusted server's image
	// instead, on the root file system of VMImage (images/Dockerfile.submission):
	// a submission's server then finds in a container the Debian system it
	// finds in a guest.
	SubmissionDockerfile string
	// ApptainerFlags go after the Runner's own apptainer exec flags.
	ApptainerFlags []string
	// VMImage is the guest image (vm.EnsureImage).
	VMImage vm.Image
	// Accel is the guests' accelerator; "" means vm.DetectAccel.
	Accel vm.Accel
	// VMOptions are added to every guest's QEMU options (vm.WithMemory...).
	VMOptions []vm.Option
	// Log gets every engine command line and the guests' progress (the
	// boot queue, power-off); nil discards them.
	Log io.Writer
}

// labelKey is the key of the label that names a Runner's containers.
const labelKey = "isolab.run"

// Runner starts servers in their environments.
type Runner struct {
	cfg Config

	mu       sync.Mutex
	images   map[imageKey]*image
	guestBin map[string]string // host binary -> its copy on the share
	servers  []Server
	appRoot  *apptainerRoot
}

// New returns a Runner for cfg; it starts nothing.
func New(cfg Config) *Runner {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	return &Runner{cfg: cfg, images: map[imageKey]*image{}, guestBin: map[string]string{}}
}

// Config returns the Runner's configuration.
func (r *Runner) Config() Config { return r.cfg }

// A Server is a server started in an environment, by this process (Start)
// or another one (Attach).
type Server interface {
	// Name is the Spec's.
	Name() string
	// Done is closed once the server has exited.
	Done() <-chan struct{}
	// ExitCode is its exit status once Done is closed: 128+n after signal
	// n, -1 when it cannot be known (a process another process started).
	ExitCode() int
	// Stop asks the server to end (SIGTERM, a container's stop, a guest's
	// Ctrl-Alt-Del), waits up to grace (a guest decides for itself), then
	// kills it, and returns its exit status once it has exited.
	Stop(grace time.Duration) (int, error)
	// Kill ends it at once, as a crash would.
	Kill()
	// Output is what it printed so far (a container's or guest's once it
	// has exited), without the command line.
	Output() string
	// Handle is what another process needs to find it again.
	Handle() Handle
	// progress grows while the server does something: CPU time for
	// processes and containers, console output for guests.
	progress() int64
	// running asks the kernel, engine or QEMU whether it still runs.
	running() bool
	// stall is how long it may make no progress while WaitInfo waits.
	stall() time.Duration
	// progressKind says what its progress is, for a stall's error.
	progressKind() string
	// ended says how it ended, once Done is closed, and lastLines what it
	// printed last, for errors.
	ended() string
	lastLines() string
}

// Running asks the kernel, the engine or QEMU whether s still runs, at
// once: for a Server attached from a handle, whose Done follows only later.
func Running(s Server) bool { return s.running() }

// Handle is a started server as plain data, for a state file.
type Handle struct {
	Kind Kind     `json:"kind"`
	Name string   `json:"name"`
	Argv []string `json:"argv"` // the exact command line that started it
	Log  string   `json:"log"`
	// Processes (host, unshare, apptainer): the pid and when it started,
	// in clock ticks after boot (a pid reused since is not ours).
	PID     int   `json:"pid,omitempty"`
	Started int64 `json:"started,omitempty"`
	// Containers.
	Container    string   `json:"container,omitempty"`
	EnginePrefix []string `json:"engine_prefix,omitempty"`
	DockerHost   string   `json:"docker_host,omitempty"`
	// Guests: the run directory and status file.
	RunDir     string `json:"run_dir,omitempty"`
	StatusFile string `json:"status_file,omitempty"`
}

// Start starts spec's server and returns once it runs: a guest once QEMU
// runs (it may wait its turn in the machine's boot queue first). WaitInfo
// then waits for its info file. Its handle is kept in the Runner's
// directory until it is stopped, for Reap.
func (r *Runner) Start(ctx context.Context, spec Spec) (Server, error) {
	if err := checkName(spec.Name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(spec.Log), 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	var s Server
	var err error
	switch spec.Kind {
	case Host, Unshare, Apptainer:
		s, err = r.startProcess(ctx, spec)
	case Docker, Podman:
		s, err = r.startContainer(ctx, spec)
	case VM:
		s, err = r.startGuest(ctx, spec)
	default:
		err = fmt.Errorf("unknown environment %q", spec.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s %s: %w", spec.Kind, spec.Name, err)
	}
	r.mu.Lock()
	r.servers = append(r.servers, s)
	r.mu.Unlock()
	if err := r.saveHandle(s.Handle()); err != nil {
		s.Kill()
		return nil, err
	}
	go func() {
		<-s.Done()
		r.forget(s.Name())
	}()
	return s, nil
}

// Close kills what this Runner started and is still running, and removes
// the images of untrusted binaries it built. Call it when every server has
// been stopped (or to end a run that failed).
func (r *Runner) Close() error {
	r.mu.Lock()
	servers := slices.Clone(r.servers)
	var temp []*image
	for _, im := range r.images {
		if im.temp && im.ref != "" {
			temp = append(temp, im)
		}
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(s.Kill)
	}
	wg.Wait()
	var errs []error
	for _, im := range temp {
		errs = append(errs, im.remove())
	}
	errs = append(errs, os.RemoveAll(filepath.Join(r.cfg.Dir, "images")))
	if r.appRoot != nil && r.appRoot.dir != "" {
		errs = append(errs, os.RemoveAll(r.appRoot.dir))
	}
	return errors.Join(errs...)
}

// nameRE is what a server's name may be: it names files, containers and a
// guest (whose host name it becomes, with '_' and '.' as '-').
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("server name %q: want letters, digits, '_', '.' or '-', at most 63", name)
	}
	return nil
}

func (r *Runner) handleDir() string { return filepath.Join(r.cfg.Dir, "servers") }

// saveHandle records h for Reap.
func (r *Runner) saveHandle(h Handle) error {
	if err := os.MkdirAll(r.handleDir(), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	tmp := filepath.Join(r.handleDir(), "."+h.Name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(r.handleDir(), h.Name+".json"))
}

// forget drops the handle of a server that has exited.
func (r *Runner) forget(name string) {
	os.Remove(filepath.Join(r.handleDir(), name+".json"))
}

// engineFor returns the engine of a container kind, run in the Runner's
// namespace and talking to its dockerd.
func (r *Runner) engineFor(k Kind) (*engine.Engine, error) {
	e, err := engine.New(engine.Kind(k))
	if err != nil {
		return nil, err
	}
	e.Prefix = netns.Enter(r.cfg.NetNS)
	if k == Docker && r.cfg.DockerHost != "" {
		e.Prefix = []string{"env", "DOCKER_HOST=" + r.cfg.DockerHost}
	}
	e.Log = r.cfg.Log
	return e, nil
}

// copyFile copies src to dst with mode.
func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil { // past the umask
		return err
	}
	return os.Rename(tmp, dst)
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

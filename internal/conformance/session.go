package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/runenv"
)

// Session is one environment of a run: the servers of its trials run there
// (through a runenv.Runner), in the run's network namespace, over a
// directory they see at the same path as the host; the clients and the
// harness's own probes run on the host, in the same namespace.
type Session struct {
	Kind runenv.Kind
	// Shm and Socket say which channels of a healthy server that runs here
	// a client on the host reaches: its shared memory (the same System V
	// IPC namespace) and its socket. The expected report follows from them;
	// the probes that read a server's segment and socket from the harness
	// (a late client, a stale segment) run only when both are true.
	Shm, Socket bool

	dir    string // under the run's work directory: every trial's files
	netns  string // the run's namespace
	runner *runenv.Runner
	logs   string

	mu  sync.Mutex
	seq int
}

// reach is what a client on the host reaches of a server in each
// environment: the host shares both namespaces; a container has its own
// IPC namespace and a bridge the host reaches; a guest has its own kernel
// behind a network the host does not reach.
func reach(k runenv.Kind) (shm, socket bool) {
	switch k {
	case runenv.Host:
		return true, true
	case runenv.VM:
		return false, false
	}
	return false, true
}

// openSession prepares kind's environment for the run.
func (r *runner) openSession(kind runenv.Kind) (*Session, error) {
	if err := runenv.Installed(kind); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	dir := filepath.Join(r.work, string(kind))
	os.RemoveAll(dir) // an earlier run's, in the same WorkDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Session{Kind: kind, dir: dir, netns: r.net.Path(), logs: r.logs}
	s.Shm, s.Socket = reach(kind)
	s.runner = runenv.New(runenv.Config{
		Dir:        filepath.Join(r.work, string(kind)+"-run"),
		SharedDir:  dir,
		Label:      r.label,
		NetNS:      s.netns,
		DockerHost: r.net.DockerHost(),
		Dockerfile: filepath.Join(r.opts.Root, "images", "Dockerfile"),
		VMImage:    r.vmImage,
		Log:        r.engineLog,
	})
	return s, nil
}

// ErrUnavailable wraps the reason an environment cannot run on this machine;
// Run leaves it out of the table and says why.
var ErrUnavailable = fmt.Errorf("environment unavailable")

// ServerSpec is one server of a trial.
type ServerSpec struct {
	Name string   // label for logs
	Bin  string   // static binary with isolab's server command line
	Args []string // its flags, without -ip: the session decides the address
	// Confined says the binary listens only on the address given with -ip
	// (isolab's own server), which on the host is 127.0.0.1; others pick
	// their own address, in the run's namespace.
	Confined bool
	Log      string // file that gets the command line and the output
}

// StartServer runs a server in the session's environment.
func (s *Session) StartServer(ctx context.Context, spec ServerSpec) (runenv.Server, error) {
	args := spec.Args
	if spec.Confined && s.Kind == runenv.Host {
		args = append(append([]string{}, args...), "-ip", "127.0.0.1")
	}
	s.mu.Lock()
	s.seq++
	name := fmt.Sprintf("s%d", s.seq) // a guest's host name: short and unique in the run
	s.mu.Unlock()
	srv, err := s.runner.Start(ctx, runenv.Spec{
		Name: name, Kind: s.Kind, Bin: spec.Bin, Args: args, Log: spec.Log,
		IPC: runenv.IPCPrivate, Network: runenv.NetworkBridge, Untrusted: !spec.Confined,
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	return srv, nil
}

// StartClient runs a client on the host, in the run's namespace, with its
// output kept.
func (s *Session) StartClient(ctx context.Context, name string, argv []string, log string) (*runenv.Process, error) {
	return s.runner.StartProcess(ctx, runenv.ProcessSpec{Name: name, Argv: argv, Log: log, Capture: true})
}

// Do runs f where the clients run: sockets it opens are in the run's
// namespace.
func (s *Session) Do(f func() error) error { return netns.Do(s.netns, f) }

// Close ends what the session still runs, removes its images of other
// implementations, and its files: the share (binaries copied there for
// guests, exit statuses) and the runner's own.
func (s *Session) Close() error {
	return errors.Join(s.runner.Close(), os.RemoveAll(s.dir), os.RemoveAll(s.runner.Config().Dir))
}

var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

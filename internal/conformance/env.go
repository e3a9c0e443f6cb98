package conformance

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable wraps the reason an Env cannot run on this machine; Run leaves
// the environment out of the table and says why.
var ErrUnavailable = errors.New("environment unavailable")

// ErrSkip wraps the reason a Session will not start one server (say, a server
// that may bind a non-loopback address where nothing contains it); the checks
// that needed it are skipped with that reason.
var ErrSkip = errors.New("skipped")

// An Env is a kind of place where servers run: the host, and (plugged in by the
// lab) a container engine or the VM.
type Env interface {
	// Name labels the environment's rows in the table: host, docker, vm.
	Name() string
	// Open prepares the environment for one run. workDir is a directory of the
	// run on the host; logf prints one progress line. An error wrapping
	// ErrUnavailable leaves the environment out with its reason.
	Open(ctx context.Context, workDir string, logf func(format string, args ...any)) (Session, error)
}

// A Session is an open Env.
type Session interface {
	// Dir is a directory on the host that servers of this environment see at
	// the same path: every scenario's info directory and ftok pathnames live
	// under it.
	Dir() string
	// Reach says which channels of a healthy server that runs here a client on
	// the host reaches: its shared memory (the same System V IPC namespace)
	// and its socket. The expected report follows from it; the probes that
	// read a server's segment and socket from the harness (a late client, a
	// stale segment) run only when both are true.
	Reach() (shm, socket bool)
	// StartServer runs a static server binary that has isolab's command line
	// (cmd/server, or an adapter from conformance/cxx) in the environment.
	StartServer(ctx context.Context, spec ServerSpec) (Process, error)
	// Client runs f where the client on the host runs: processes that f starts
	// and sockets it opens reach this environment's servers the way that client
	// does, and nothing the network rule forbids. f must not block for long.
	Client(f func() error) error
	// Close stops whatever the session still runs and releases it.
	Close() error
}

// ServerSpec is one server to start.
type ServerSpec struct {
	Name string   // label for logs
	Bin  string   // static binary with isolab's server command line
	Args []string // its flags, without -ip: the session decides the address
	// Confined says the binary listens only on the address given with -ip
	// (isolab's own server). A session that cannot contain a server refuses
	// the others with ErrSkip.
	Confined bool
	Log      string // file that gets the command line and the output
}

// A Process is a running server or client.
type Process interface {
	// Done is closed once the process has exited.
	Done() <-chan struct{}
	// ExitCode is the exit status once Done is closed; 128+n after signal n.
	ExitCode() int
	// Stop sends SIGTERM, waits up to grace, then SIGKILL, and returns once the
	// process has exited. It reports whether the process had to be signalled.
	Stop(grace time.Duration) bool
	// Kill sends SIGKILL at once, as a crash would end it, and returns once the
	// process has exited.
	Kill()
	// Stdout and Stderr hold what it wrote so far.
	Stdout() string
	Stderr() string
}

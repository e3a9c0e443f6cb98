package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/sandbox"
	"github.com/isolab/isolab/internal/scenario"
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

	dir     string // under the run's work directory: every trial's files
	netns   string // the run's namespace
	runner  *runenv.Runner
	logs    string
	helper  string   // cmd/isolab-sandbox
	hidden  []string // what sandboxed code must not see (Runner.hidden)
	reports string   // the sandboxes' reports: not theirs to write
	unmount func()

	mu  sync.Mutex
	seq int
}

// reach is what a client on the host reaches of a server of the session:
// the scenario's rule for a server of kind with a private IPC namespace and
// the engine's bridge, as StartServer runs it.
func reach(k runenv.Kind) (shm, socket bool) {
	v := scenario.Server{Env: scenario.Env(k), IPC: scenario.IPCPrivate, Network: scenario.Network(network(k))}.Visibility()
	return v.Shm, v.Socket
}

// network is the network a session's servers have: the engine's bridge,
// for Apptainer (which has none) the run's namespace, as the course runs it.
func network(k runenv.Kind) string {
	if k == runenv.Apptainer {
		return runenv.NetworkHost
	}
	return runenv.NetworkBridge
}

// openSession prepares kind's environment for the run.
func (r *runner) openSession(kind runenv.Kind) (*Session, error) {
	if err := runenv.Installed(kind); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	dir := filepath.Join(r.work, string(kind))
	sandbox.UnmountAll(dir)
	os.RemoveAll(dir) // an earlier run's, in the same WorkDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Session{Kind: kind, dir: dir, netns: r.net.Path(), logs: r.logs, helper: r.helper, hidden: r.hidden(), reports: filepath.Join(r.work, "reports", string(kind))}
	os.RemoveAll(s.reports)
	if slices.ContainsFunc(r.sides, func(sd side) bool { return sd.untrusted }) {
		// The disk the sandboxed servers and clients write is this tmpfs.
		if err := sandbox.MountDisk("isolab-session", dir, sessionSize); err != nil {
			return nil, fmt.Errorf("the %s session: %w", kind, err)
		}
		s.unmount = func() { sandbox.UnmountAll(dir) }
	}
	if err := os.MkdirAll(s.reports, 0o755); err != nil {
		return nil, err
	}
	s.Shm, s.Socket = reach(kind)
	var subDockerfile string
	if r.vmImage.Initrd != "" {
		subDockerfile = filepath.Join(r.opts.Root, "images", "Dockerfile.submission")
	}
	s.runner = runenv.New(runenv.Config{
		Dir:        filepath.Join(r.work, string(kind)+"-run"),
		SharedDir:  dir,
		Label:      r.label,
		NetNS:      s.netns,
		DockerHost: r.net.DockerHost(),
		Dockerfile: filepath.Join(r.opts.Root, "images", "Dockerfile"), ApptainerDef: filepath.Join(r.opts.Root, "images", "server.def"),
		// A submission's server finds in a container the system it finds in a guest.
		SubmissionDockerfile: subDockerfile,
		VMImage:              r.vmImage,
		Log:                  r.engineLog,
	})
	return s, nil
}

// ErrUnavailable wraps the reason an environment cannot run on this machine;
// Run leaves it out of the table and says why.
var ErrUnavailable = fmt.Errorf("environment unavailable")

// sessionSize bounds the disk of a session whose servers or clients run
// in the sandbox: a hostile one that fills its directory fills this.
const sessionSize = "256m"

// ServerSpec is one server of a trial.
type ServerSpec struct {
	Name string   // label for logs
	Bin  string   // static binary with isolab's server command line
	Args []string // its flags, without -ip: the session decides the address
	Log  string   // file that gets the command line and the output
	// Untrusted says the binary is not isolab's. isolab's listens only on
	// the address -ip gives, on the host 127.0.0.1; others pick their own
	// address, in the run's namespace.
	Untrusted bool
	// UID, when not 0, runs it in the sandbox as that uid, with Dir its
	// only writable directory, and its sandbox's report in Report (host
	// processes and Apptainer, which runs as its caller: a Docker or
	// Podman container and a guest have their own walls).
	UID    int
	Dir    string
	Report string
}

// StartServer runs a server in the session's environment.
func (s *Session) StartServer(ctx context.Context, spec ServerSpec) (runenv.Server, error) {
	rs := runenv.Spec{Kind: s.Kind, Bin: spec.Bin, Args: spec.Args, Log: spec.Log, IPC: runenv.IPCPrivate, Network: network(s.Kind),
		Untrusted: spec.Untrusted, UID: spec.UID}
	if !spec.Untrusted && s.Kind == runenv.Host {
		rs.Args = append(append([]string{}, rs.Args...), "-ip", "127.0.0.1")
	}
	if spec.UID != 0 {
		switch s.Kind {
		case runenv.Host:
			rs.Wrap = s.policy(spec.UID, spec.Dir, spec.Report).Argv(s.helper, nil)
		case runenv.Apptainer:
			// Apptainer runs as its caller: the sandbox's uid, in user
			// namespace mode, seeing of the machine the Debian root it
			// runs (ApptainerRoot) and the server's binary, no more.
			root, err := s.runner.ApptainerRoot(ctx)
			if err != nil {
				return nil, fmt.Errorf("start %s: %w", spec.Name, err)
			}
			p := s.policy(spec.UID, spec.Dir, spec.Report)
			p.UserNS, p.Visible = true, []string{root, spec.Bin}
			rs.Wrap = p.Argv(s.helper, nil)
		case runenv.Docker, runenv.Podman:
			l := sandbox.RunLimits
			rs.ExtraArgs = []string{"--pids-limit=" + strconv.Itoa(l.Procs), "--memory=" + strconv.FormatInt(l.Memory, 10),
				fmt.Sprintf("--ulimit=cpu=%d:%d", int(l.CPU.Seconds()), int(l.CPU.Seconds())+1),
				fmt.Sprintf("--ulimit=fsize=%d:%d", l.FileSize, l.FileSize)}
		}
	}
	s.mu.Lock()
	s.seq++
	rs.Name = fmt.Sprintf("s%d", s.seq) // a guest's host name: short and unique in the run
	s.mu.Unlock()
	srv, err := s.runner.Start(ctx, rs)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	return srv, nil
}

// policy is the sandbox of a host process of uid, writing only dir.
func (s *Session) policy(uid int, dir, report string) sandbox.Policy {
	return sandbox.Policy{UID: uid, Writable: []string{dir}, Hidden: s.hidden, Limits: sandbox.RunLimits, Grace: 2 * time.Second, Report: report}
}

// StartClient runs a client on the host, in the run's namespace, with its
// output kept; with uid not 0, in the sandbox as uid, dir its working and
// only writable directory, its report in report.
func (s *Session) StartClient(ctx context.Context, who string, argv []string, log string, uid int, dir, report string) (*runenv.Process, error) {
	if uid != 0 {
		argv = s.policy(uid, dir, report).Argv(s.helper, argv)
	}
	return s.runner.StartProcess(ctx, runenv.ProcessSpec{Name: who, Argv: argv, Log: log, Capture: true})
}

// Do runs f where the clients run: sockets it opens are in the run's
// namespace.
func (s *Session) Do(f func() error) error { return netns.Do(s.netns, f) }

// Close ends what the session still runs, removes its images of other
// implementations, and its files: the share (binaries copied there for
// guests, exit statuses) and the runner's own.
func (s *Session) Close() error {
	err := s.runner.Close()
	if s.unmount != nil {
		s.unmount()
	}
	return errors.Join(err, os.RemoveAll(s.dir), os.RemoveAll(s.runner.Config().Dir), os.RemoveAll(s.reports))
}

var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

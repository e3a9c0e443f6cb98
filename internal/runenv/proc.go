package runenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/isolab/isolab/internal/engine"
	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/procfs"
	"github.com/isolab/isolab/internal/progress"
	"github.com/isolab/isolab/internal/shell"
)

// ProcessSpec is a host process to start: a client, or a server's command
// line made by processArgv.
type ProcessSpec struct {
	Name string
	Kind Kind     // what its Handle says it is: Host unless a server's Spec says otherwise
	Argv []string // without the namespace's nsenter, which the Runner adds
	Log  string   // gets the command line, then the output
	// Capture keeps what the process prints in memory too (Stdout, Output),
	// through pipes, instead of having it write straight to the log: only
	// for processes that end before this one does.
	Capture bool
}

// Process is a process this one started, or found again by its pid.
type Process struct {
	kind      Kind
	name, log string
	argv      []string
	pid       int
	// started is when pid started (procfs.Stat.StartTime): with the pid it
	// names this process for good, whatever the program now calls itself
	// (apptainer execs its starter, which renames itself).
	started        int64
	cmd            *exec.Cmd // nil for one another process started
	done           chan struct{}
	code           int
	stdout, output shell.Capped
	captured       bool

	doneOnce sync.Once
}

// StartProcess starts a host process in the Runner's namespace, in a
// session of its own, so that it outlives this process (a server of lab:up)
// and a Ctrl-C at the terminal reaches only the lab; Stop signals its whole
// process group.
func (r *Runner) StartProcess(ctx context.Context, ps ProcessSpec) (*Process, error) {
	argv := append(netns.Enter(r.cfg.NetNS), ps.Argv...)
	log, err := os.OpenFile(ps.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "+ %s\n", shell.Quote(argv))
	if ps.Kind == "" {
		ps.Kind = Host
	}
	p := &Process{kind: ps.Kind, name: ps.Name, log: ps.Log, argv: argv, done: make(chan struct{}), code: -1, captured: ps.Capture}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if ps.Capture {
		streams := shell.Serialized(io.MultiWriter(&p.stdout, &p.output, log), io.MultiWriter(&p.output, log))
		cmd.Stdout, cmd.Stderr = streams[0], streams[1]
		// A grandchild holding the pipes costs no more; the sandbox kills
		// what its code left when the code ends, so this is seldom reached:
		// generous, as a busy machine can take seconds to copy the last bytes.
		cmd.WaitDelay = 10 * time.Second
	} else {
		cmd.Stdout, cmd.Stderr = log, log
	}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p.cmd, p.pid = cmd, cmd.Process.Pid
	// The child cannot be reaped before Wait below, so its stat is there.
	if st, err := procfs.ReadStat(p.pid); err == nil {
		p.started = st.StartTime
	}
	go func() {
		err := cmd.Wait()
		if errors.Is(err, exec.ErrWaitDelay) {
			// The process exited (0), but its output was still being read
			// WaitDelay later: a grandchild holds the pipes, or the machine
			// is so busy that copying the last bytes took that long. Its
			// exit status is what it is.
			err = nil
		}
		p.code = exitCode(err)
		fmt.Fprintf(log, "+ exit status %d\n", p.code)
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// startProcess starts a host, unshare or Apptainer server.
func (r *Runner) startProcess(ctx context.Context, spec Spec) (Server, error) {
	argv, err := r.processArgv(ctx, spec)
	if err != nil {
		return nil, err
	}
	return r.StartProcess(ctx, ProcessSpec{Name: spec.Name, Kind: spec.Kind, Argv: argv, Log: spec.Log})
}

// processArgv is the command line of a process server, without the
// namespace's nsenter: Wrap, then unshare or apptainer exec, then the server.
func (r *Runner) processArgv(ctx context.Context, spec Spec) ([]string, error) {
	argv := append([]string{}, spec.Wrap...)
	switch spec.Kind {
	case Host:
		argv = append(argv, spec.Bin)
	case Unshare:
		argv = append(argv, UnshareArgv(spec)...)
	case Apptainer:
		image, err := r.apptainerImage(ctx, spec)
		if err != nil {
			return nil, err
		}
		a, err := r.apptainerArgv(spec, image)
		if err != nil {
			return nil, err
		}
		return append(argv, a...), nil
	}
	return append(argv, spec.Args...), nil
}

// UnshareArgv is unshare(1) with --ipc for a private IPC namespace (unless
// IPC is IPCHost) and --net for NetworkNone, then the server's binary.
// Without --fork, unshare execs the server in place: the pid is the
// server's, and so are its signals.
func UnshareArgv(spec Spec) []string {
	argv := []string{"unshare"}
	if spec.IPC != IPCHost {
		argv = append(argv, "--ipc")
	}
	if spec.Network == NetworkNone {
		argv = append(argv, "--net")
	}
	return append(argv, "--", spec.Bin)
}

// apptainerImage is the image spec's server runs in: isolab's SIF
// (images/server.def, the server in it), or, with a VM image, for an
// untrusted server or one that runs as a Wrap's uid (whose Apptainer could
// mount a SIF only through /dev/fuse), the Debian root of ApptainerRoot,
// where its binary is bound.
func (r *Runner) apptainerImage(ctx context.Context, spec Spec) (string, error) {
	if (spec.Untrusted || len(spec.Wrap) > 0) && r.cfg.VMImage.Initrd != "" {
		return r.ApptainerRoot(ctx)
	}
	return r.image(ctx, Apptainer, spec)
}

// apptainerArgv is apptainer exec of the server in image, with the
// Runner's flags and, when apptainer runs as root (not as a Wrap's uid),
// --drop-caps CAP_SYS_RESOURCE (root may lack it here, and apptainer would
// fail to raise its limits). An image that is a directory gets the
// server's binary bound read-only at /server.
func (r *Runner) apptainerArgv(spec Spec, image string) ([]string, error) {
	flags := slices.Clone(r.cfg.ApptainerFlags)
	if st, err := os.Stat(image); err == nil && st.IsDir() {
		flags = append(flags, "--bind", spec.Bin+":"+engine.ServerPath+":ro")
	}
	opts := []engine.Option{
		engine.WithSharedDir(r.cfg.SharedDir),
		engine.WithIPC(spec.IPC),
		engine.WithEngineFlags(append(flags, spec.ExtraArgs...)...),
		engine.WithArgs(spec.Args...),
	}
	if spec.Containall {
		opts = append(opts, engine.WithContainAll())
	}
	if spec.Network != NetworkHost {
		opts = append(opts, engine.WithNetwork(spec.Network))
	}
	if os.Geteuid() == 0 && len(spec.Wrap) == 0 {
		opts = append(opts, engine.WithDropCaps("CAP_SYS_RESOURCE"))
	}
	return engine.NewSpec(engine.Apptainer, spec.Name, image, opts...).Argv()
}

// attachProcess finds a process from its handle.
func attachProcess(h Handle) *Process {
	return &Process{kind: h.Kind, name: h.Name, log: h.Log, argv: h.Argv, pid: h.PID, started: h.Started, code: -1}
}

// Name is the process's name.
func (p *Process) Name() string { return p.name }

// PID is the process's pid.
func (p *Process) PID() int { return p.pid }

// Done is closed once the process has exited: followed as its parent for
// a process this one started, polled by pid otherwise.
func (p *Process) Done() <-chan struct{} {
	p.doneOnce.Do(func() {
		if p.done != nil {
			return
		}
		p.done = make(chan struct{})
		go func() {
			for alive(p.pid, p.started) {
				time.Sleep(50 * time.Millisecond)
			}
			close(p.done)
		}()
	})
	return p.done
}

// ExitCode is the exit status once Done is closed; -1 for a process another
// process started.
func (p *Process) ExitCode() int {
	<-p.Done()
	return p.code
}

// Stop sends SIGTERM to the process group, SIGKILL after grace, and returns
// the exit status once it has exited.
func (p *Process) Stop(grace time.Duration) (int, error) {
	if closed(p.Done()) {
		return p.code, nil
	}
	if p.cmd == nil && !alive(p.pid, p.started) {
		return -1, nil
	}
	syscall.Kill(-p.pid, syscall.SIGTERM)
	select {
	case <-p.Done():
		return p.code, nil
	case <-time.After(grace):
	}
	syscall.Kill(-p.pid, syscall.SIGKILL)
	<-p.Done()
	return p.code, fmt.Errorf("%s (pid %d) ignored SIGTERM for %s: killed", p.name, p.pid, grace)
}

// Kill sends SIGKILL to the process group and waits for the process to exit.
func (p *Process) Kill() {
	if closed(p.Done()) || (p.cmd == nil && !alive(p.pid, p.started)) {
		return
	}
	syscall.Kill(-p.pid, syscall.SIGKILL)
	<-p.Done()
}

// Stdout is what a captured process printed on stdout so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Output is what the process printed so far: kept in memory for a captured
// one, else read back from its log.
func (p *Process) Output() string {
	if p.captured {
		return p.output.String()
	}
	return logOutput(p.log)
}

// Handle is the process as data.
func (p *Process) Handle() Handle {
	return Handle{Kind: p.kind, Name: p.name, Argv: p.argv, Log: p.log, PID: p.pid, Started: p.started}
}

func (p *Process) progress() int64 { return procfs.SessionTicks(p.pid) }

func (p *Process) stall() time.Duration { return progress.DefaultStall }

func (p *Process) progressKind() string { return "it used no CPU time" }

func (p *Process) ended() string { return fmt.Sprintf("exited %d", p.ExitCode()) }

func (p *Process) lastLines() string { return printed(p.Output()) }

func (p *Process) running() bool {
	if p.cmd != nil {
		return !closed(p.done)
	}
	return alive(p.pid, p.started)
}

// logOutput is a log's text after the command line that heads it.
func logOutput(path string) string {
	b, _ := os.ReadFile(path)
	if _, rest, ok := bytes.Cut(b, []byte("\n")); ok && bytes.HasPrefix(b, []byte("+ ")) {
		b = rest
	}
	return string(b)
}

// alive reports whether pid is the process that started at started (in
// clock ticks after boot) and has not exited (a zombie counts as exited):
// a pid from an old handle may have been reused since.
func alive(pid int, started int64) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && !st.Zombie() && st.StartTime == started
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

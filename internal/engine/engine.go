package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// EnvEngine names the variable that picks the engine for Detect.
const EnvEngine = "LAB_ENGINE"

// pingTimeout bounds the check that an engine answers.
const pingTimeout = 10 * time.Second

// ErrNotInstalled is wrapped by the errors of New and Detect when an engine's
// command is missing.
var ErrNotInstalled = errors.New("not installed")

// Engine runs the argvs of this package with one engine's command.
type Engine struct {
	Kind Kind
	Path string // the engine's command, as found in PATH
	// Log, when set, gets every command line before it runs (as Quote writes
	// it, after "$ "), and the output of the commands whose output is not
	// the caller's.
	Log io.Writer
}

// New returns the Engine for k once its command is found in PATH; it does not
// check that the engine answers (see Ping).
func New(k Kind) (*Engine, error) {
	switch k {
	case Docker, Podman, Apptainer:
	default:
		return nil, fmt.Errorf("unknown engine %q (want docker, podman or apptainer)", k)
	}
	p, err := exec.LookPath(string(k))
	if err != nil {
		return nil, fmt.Errorf("%s %w (try: %s)", k, ErrNotInstalled, k.Package())
	}
	return &Engine{Kind: k, Path: p}, nil
}

// Detect picks the OCI engine: the one $LAB_ENGINE names (docker or podman),
// else Docker when its daemon answers, else Podman. It fails with one line
// that says what to install or start when no engine can be used.
func Detect(ctx context.Context) (*Engine, error) {
	switch v := os.Getenv(EnvEngine); v {
	case "docker", "podman":
		e, err := New(Kind(v))
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", EnvEngine, v, err)
		}
		if err := e.Ping(ctx); err != nil {
			return nil, fmt.Errorf("%s=%s: %w", EnvEngine, v, err)
		}
		return e, nil
	case "":
	default:
		return nil, fmt.Errorf("%s=%q: want docker or podman", EnvEngine, v)
	}
	d, derr := New(Docker)
	if derr == nil {
		if derr = d.Ping(ctx); derr == nil {
			return d, nil
		}
	}
	p, perr := New(Podman)
	if perr == nil {
		if perr = p.Ping(ctx); perr == nil {
			return p, nil
		}
	}
	if errors.Is(derr, ErrNotInstalled) && errors.Is(perr, ErrNotInstalled) {
		return nil, fmt.Errorf("no container engine: docker and podman are %w (try: %s, or %s)",
			ErrNotInstalled, Docker.Package(), Podman.Package())
	}
	return nil, fmt.Errorf("no container engine answers: %w; %w", derr, perr)
}

// Ping checks that the engine answers: for Docker, that its daemon does.
func (e *Engine) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	var argv []string
	switch e.Kind {
	case Docker, Podman:
		argv = []string{string(e.Kind), "version", "--format={{.Server.Version}}"}
	case Apptainer:
		argv = []string{string(e.Kind), "version"}
	}
	if _, err := e.output(ctx, argv); err != nil {
		if e.Kind == Docker {
			where := os.Getenv("DOCKER_HOST")
			if where == "" {
				where = "the default socket"
			}
			return fmt.Errorf("docker's daemon does not answer at %s (start dockerd, or run under scripts/netns-run --dockerd): %w", where, err)
		}
		return fmt.Errorf("%s does not answer: %w", e.Kind, err)
	}
	return nil
}

// Run starts s detached (Docker, Podman) and returns the container's id.
// Apptainer servers are not containers the engine keeps: run s.Argv() as a
// process instead.
func (e *Engine) Run(ctx context.Context, s Spec) (string, error) {
	if !e.Kind.oci() {
		return "", fmt.Errorf("run %s: %s servers run in the foreground; start Spec.Argv as a process", s.Name, e.Kind)
	}
	if s.Engine != e.Kind {
		return "", fmt.Errorf("run %s: spec is for %s, engine is %s", s.Name, s.Engine, e.Kind)
	}
	argv, err := s.Argv()
	if err != nil {
		return "", err
	}
	out, err := e.output(ctx, argv)
	if err != nil {
		return "", fmt.Errorf("run container %s: %w", s.ContainerName(), err)
	}
	id := lastLine(out)
	if id == "" {
		return "", fmt.Errorf("run container %s: %s printed no container id", s.ContainerName(), e.Kind)
	}
	return id, nil
}

// Inspect returns container id's status, exit code and addresses.
func (e *Engine) Inspect(ctx context.Context, id string) (State, error) {
	argv, err := InspectArgv(e.Kind, id)
	if err != nil {
		return State{}, err
	}
	out, err := e.output(ctx, argv)
	if err != nil {
		return State{}, fmt.Errorf("inspect container %s: %w", id, err)
	}
	return ParseInspect(out)
}

// Stop sends SIGTERM to the containers ids and SIGKILL after timeout.
func (e *Engine) Stop(ctx context.Context, timeout time.Duration, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	argv, err := StopArgv(e.Kind, timeout, ids...)
	if err != nil {
		return err
	}
	if _, err := e.output(ctx, argv); err != nil {
		return fmt.Errorf("stop containers %s: %w", strings.Join(ids, " "), err)
	}
	return nil
}

// Remove removes the containers ids, killing those still running.
func (e *Engine) Remove(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	argv, err := RmArgv(e.Kind, ids...)
	if err != nil {
		return err
	}
	if _, err := e.output(ctx, argv); err != nil {
		return fmt.Errorf("remove containers %s: %w", strings.Join(ids, " "), err)
	}
	return nil
}

// Logs writes container id's output (stdout and stderr) to the file path,
// replacing it.
func (e *Engine) Logs(ctx context.Context, id, path string) (err error) {
	argv, err := LogsArgv(e.Kind, id)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save logs of container %s: %w", id, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("save logs of container %s: %w", id, cerr)
		}
	}()
	if err := e.run(ctx, argv, f, f); err != nil {
		return fmt.Errorf("save logs of container %s: %w", id, err)
	}
	return nil
}

// List returns the full ids of the containers, running or not, labelled label
// (e.g. Label for every lab container).
func (e *Engine) List(ctx context.Context, label string) ([]string, error) {
	argv, err := PsArgv(e.Kind, label)
	if err != nil {
		return nil, err
	}
	out, err := e.output(ctx, argv)
	if err != nil {
		return nil, fmt.Errorf("list containers labelled %s: %w", label, err)
	}
	return strings.Fields(out), nil
}

// RemoveAll removes every container labelled label, running or not, and
// returns the ids it removed. Run it before starting servers (what an
// interrupted run left) and after (what this one leaked).
func (e *Engine) RemoveAll(ctx context.Context, label string) ([]string, error) {
	ids, err := e.List(ctx, label)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	if err := e.Remove(ctx, ids...); err != nil {
		// Some may be gone already (a concurrent removal): report what is left.
		left, lerr := e.List(ctx, label)
		return subtract(ids, left), errors.Join(err, lerr)
	}
	return ids, nil
}

func subtract(all, minus []string) []string {
	gone := map[string]bool{}
	for _, m := range minus {
		gone[m] = true
	}
	var out []string
	for _, a := range all {
		if !gone[a] {
			out = append(out, a)
		}
	}
	return out
}

// run runs argv with its output to stdout and stderr; a failure carries the
// command line and the last lines of what it printed on stderr.
func (e *Engine) run(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	if e.Log != nil {
		fmt.Fprintf(e.Log, "$ %s\n", Quote(argv))
	}
	name := argv[0]
	if name == string(e.Kind) && e.Path != "" {
		name = e.Path
	}
	cmd := exec.CommandContext(ctx, name, argv[1:]...)
	var tail bytes.Buffer
	cmd.Stdout = stdout
	cmd.Stderr = &tail
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(stderr, &tail)
	} else if e.Log != nil {
		cmd.Stderr = io.MultiWriter(e.Log, &tail)
	}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		msg := lastLines(tail.String(), 3)
		if msg == "" {
			return fmt.Errorf("%s: %w", Quote(argv), err)
		}
		return fmt.Errorf("%s: %w: %s", Quote(argv), err, msg)
	}
	return nil
}

// output runs argv and returns its standard output.
func (e *Engine) output(ctx context.Context, argv []string) (string, error) {
	var out bytes.Buffer
	err := e.run(ctx, argv, &out, nil)
	return out.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// lastLines returns the last n non-empty lines of s joined by " | ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

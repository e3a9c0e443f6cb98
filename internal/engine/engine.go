package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/isolab/isolab/internal/shell"
)

// pingTimeout bounds the check that an engine answers.
const pingTimeout = 10 * time.Second

// ErrNotInstalled is wrapped by the errors of New and Detect when an engine's
// command is missing.
var ErrNotInstalled = errors.New("not installed")

// Engine runs the argvs of this package with one engine's command.
type Engine struct {
	Kind Kind
	Path string // the engine's command, as found in PATH
	// Prefix, when set, goes before every command the engine runs, e.g.
	// nsenter --net=/run/netns/NAME -- to run Podman in the lab's network
	// namespace, where its bridge is.
	Prefix []string
	// Log, when set, gets every command line before it runs (as shell.Quote
	// writes it, after "$ "), and the output of the commands whose output is
	// not the caller's.
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
			return fmt.Errorf("docker's daemon does not answer at %s (the lab starts a dockerd of its own in its network namespace; else start dockerd): %w", where, err)
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

// Wait waits for container id to exit and returns its exit status.
func (e *Engine) Wait(ctx context.Context, id string) (int, error) {
	argv, err := WaitArgv(e.Kind, id)
	if err != nil {
		return -1, err
	}
	out, err := e.output(ctx, argv)
	if err != nil {
		return -1, fmt.Errorf("wait for container %s: %w", id, err)
	}
	code, err := strconv.Atoi(lastLine(out))
	if err != nil {
		return -1, fmt.Errorf("wait for container %s: %s printed %q", id, e.Kind, out)
	}
	return code, nil
}

// RemoveImages removes the images refs.
func (e *Engine) RemoveImages(ctx context.Context, refs ...string) error {
	if len(refs) == 0 {
		return nil
	}
	argv, err := RemoveImagesArgv(e.Kind, refs...)
	if err != nil {
		return err
	}
	if _, err := e.output(ctx, argv); err != nil {
		return fmt.Errorf("remove images %s: %w", strings.Join(refs, " "), err)
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
	if err := e.run(ctx, argv, f); err != nil {
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

// Command returns the command line that runs argv, an argv of this package,
// with the engine's path and Prefix.
func (e *Engine) Command(argv []string) []string {
	out := append([]string{}, e.Prefix...)
	if argv[0] == string(e.Kind) && e.Path != "" {
		out = append(out, e.Path)
	} else {
		out = append(out, argv[0])
	}
	return append(out, argv[1:]...)
}

// run runs argv with what it prints on stdout going to stdout (nil: the
// log), and on stderr to the log; a failure carries the command line and the
// last lines it printed.
func (e *Engine) run(ctx context.Context, argv []string, stdout io.Writer) error {
	_, err := shell.Run(ctx, shell.Command{Argv: e.Command(argv), Log: e.Log, Stdout: stdout, Brief: true})
	return err
}

// output runs argv and returns its standard output.
func (e *Engine) output(ctx context.Context, argv []string) (string, error) {
	return shell.Run(ctx, shell.Command{Argv: e.Command(argv), Log: e.Log, Stdout: io.Discard, Brief: true})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

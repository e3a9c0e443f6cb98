package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/isolab/isolab/client"
	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/scenario"
	"github.com/isolab/isolab/internal/shell"
)

// ErrMismatch is returned by Verify when the client's report differs from the
// expected one.
var ErrMismatch = errors.New("the client's report differs from the expected one")

// Verify measures the lab (Measure: up, the client on the host, down) and
// compares the client's report with the scenario's. It fails on a mismatch,
// showing the diff, the client's -explain table and the logs of the servers
// it put in another class, on a server that did not exit 0, and on anything
// left behind.
func (l *Lab) Verify(ctx context.Context) error {
	m, err := l.Measure(ctx)
	if m == nil {
		return err
	}
	got := m.Result.Report.String()
	l.Printf("client report:\n%s", shell.Indent(got))
	if got != m.State.Expected {
		l.Printf("%s", scenario.Diff("expected", m.State.Expected, "client", got))
		var table bytes.Buffer
		client.WriteExplain(&table, m.Result)
		l.Printf("client -explain:\n%s", table.String())
		// Container output reaches the logs at teardown, so the tails come last.
		for _, r := range disagreeing(m.State, m.Result) {
			l.Printf("last lines of %s (%s):\n%s", r.Handle.Log, r.Name, shell.Indent(shell.TailFile(r.Handle.Log, 15)))
		}
		err = errors.Join(ErrMismatch, err)
	}
	if err == nil {
		l.Printf("lab:verify passed in %s: report as expected, every server exited 0, nothing left behind", round(time.Since(l.start)))
	}
	return err
}

// Measurement is what one lab run saw: the servers as they were started, and
// what the client on the host made of them.
type Measurement struct {
	State  *State        // the servers: command lines, addresses, expected report
	Result client.Result // the client's -json output
}

// Measure stands the lab up, runs the client once, and tears everything
// down, and returns what the client saw, without judging it. It fails when a
// server did not start or did not exit 0, when the client failed, and when
// anything was left behind; once the client has run, it returns what it saw
// with such an error too.
func (l *Lab) Measure(ctx context.Context) (m *Measurement, err error) {
	st, err := l.Up(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, l.down(context.WithoutCancel(ctx), st)) }()
	res, err := l.runClient(ctx, st)
	if err != nil {
		return nil, err
	}
	return &Measurement{State: st, Result: res}, nil
}

// clientCommand is the host's client run in the lab's network namespace on
// its info directory, with flags.
func (l *Lab) clientCommand(ctx context.Context, st *State, flags ...string) *exec.Cmd {
	argv := append(netns.Enter(netns.Path(st.NetNS)), l.ClientBin())
	argv = append(append(argv, flags...), l.InfoDir())
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// runClient runs the client once with -json (a server answers only one
// client) and returns what it saw.
func (l *Lab) runClient(ctx context.Context, st *State) (client.Result, error) {
	var res client.Result
	err := l.Step("client probed the servers", func() error {
		cmd := l.clientCommand(ctx, st, "-json")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		runErr := cmd.Run()
		if stderr.Len() > 0 {
			l.Printf("client stderr:\n%s", shell.Indent(stderr.String()))
		}
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			return fmt.Errorf("%s: %v; output: %q", shell.Quote(cmd.Args), errors.Join(runErr, err), stdout.String())
		}
		return runErr
	})
	return res, err
}

// disagreeing returns the servers whose class differs from the expected one.
func disagreeing(st *State, res client.Result) []Running {
	got := map[string]string{}
	for _, s := range res.Servers {
		got[s.File] = s.Class.String()
	}
	var out []Running
	for _, r := range st.Servers {
		if got[scenario.InfoName(r.Server)] != r.Expectation().Class().String() {
			out = append(out, r)
		}
	}
	return out
}

// upState is the state of the lab that is up, or an error saying it is down.
func (l *Lab) upState() (*State, error) {
	st, err := l.LoadState()
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("the lab is down (no %s): run 'go tool mage lab:up' first", l.statePath())
	}
	return st, nil
}

// Client runs the host's client on the lab's info directory, in its
// namespace, with the flags $LAB_CLIENT_FLAGS holds (mage passes none), and
// prints what it prints.
func (l *Lab) Client(ctx context.Context) error {
	st, err := l.upState()
	if err != nil {
		return err
	}
	cmd := l.clientCommand(ctx, st, strings.Fields(os.Getenv(VarClientFlags))...)
	cmd.Stdout, cmd.Stderr = l.Out, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", shell.Quote(cmd.Args), err)
	}
	return nil
}

// Shell opens an interactive shell ($SHELL, else bash) in the lab's network
// namespace, with DOCKER_HOST set to the lab's dockerd.
func (l *Lab) Shell(ctx context.Context) error {
	st, err := l.upState()
	if err != nil {
		return err
	}
	sh := os.Getenv("SHELL")
	if sh == "" {
		sh = "/bin/bash"
	}
	argv := append(netns.Enter(netns.Path(st.NetNS)), sh)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, l.Out, os.Stderr
	cmd.Env = append(os.Environ(), "ISOLAB_NETNS="+st.NetNS)
	if st.DockerHost != "" {
		cmd.Env = append(cmd.Env, "DOCKER_HOST="+st.DockerHost)
	}
	l.Printf("shell in network namespace %s (DOCKER_HOST=%s); exit to leave", st.NetNS, st.DockerHost)
	return cmd.Run()
}

// Status prints the lab's namespace, dockerd and servers: whether each
// runs, where, and whether its info file is there.
func (l *Lab) Status(ctx context.Context) error {
	st, err := l.LoadState()
	if err != nil {
		return err
	}
	if st == nil {
		l.Printf("the lab is down (no %s)", l.statePath())
		return nil
	}
	l.Printf("scenario %s, up since %s", st.Scenario, st.Started.Format(time.TimeOnly))
	ns := "gone"
	if netns.Exists(st.NetNS) {
		ns = "present (" + netns.Path(st.NetNS) + ")"
	}
	l.Printf("network namespace %s: %s", st.NetNS, ns)
	if st.DockerHost != "" {
		l.Printf("dockerd: %s", l.dockerdStatus(ctx, st))
	}
	tw := tabwriter.NewWriter(l.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tENV\tSTATE\tPID/CONTAINER\tADDRESS\tINFO FILE\tEXPECTED")
	for _, r := range st.Servers {
		id := r.Handle.Container
		if id == "" {
			id = fmt.Sprint(r.Handle.PID)
		}
		if len(id) > 12 {
			id = id[:12]
		}
		state := "running"
		if !runenv.Running(runenv.Attach(r.Handle)) {
			state = "exited"
		}
		present := "absent"
		if _, err := os.Stat(r.InfoFile); err == nil {
			present = "present"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Env, state, id, r.Address, present, r.Expectation().Class())
	}
	return tw.Flush()
}

// dockerdStatus says whether the lab's dockerd answers.
func (l *Lab) dockerdStatus(ctx context.Context, st *State) string {
	out, err := shell.Run(ctx, shell.Command{Argv: []string{"docker", "-H", st.DockerHost, "version", "--format", "{{.Server.Version}}"}, Brief: true})
	if err != nil {
		return st.DockerHost + ", not answering: " + err.Error()
	}
	return st.DockerHost + ", version " + strings.TrimSpace(out)
}

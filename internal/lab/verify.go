package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/isolab/isolab/client"
	"github.com/isolab/isolab/internal/scenario"
)

// ErrMismatch is returned by Verify when the client's report differs from the
// expected one.
var ErrMismatch = errors.New("the client's report differs from the expected one")

// Verify stands the lab up, runs the client on the host, compares its report
// with the scenario's, and tears everything down. It fails on a mismatch, on a
// server that did not exit 0, and on anything left behind.
func (l *Lab) Verify(ctx context.Context) (err error) {
	st, err := l.Up(ctx)
	if err != nil {
		return err
	}
	var disagreed []Running
	defer func() {
		err = errors.Join(err, l.down(context.WithoutCancel(ctx), st, l.envs))
		// Container output reaches the logs at teardown, so the tails come last.
		for _, r := range disagreed {
			l.Printf("last lines of %s (%s):\n%s", r.Log, r.Name, indent(TailFile(r.Log, 15)))
		}
		if err == nil {
			l.Printf("lab:verify passed in %s: report as expected, every server exited 0, nothing left behind", round(time.Since(l.start)))
		}
	}()
	res, err := l.runClient(ctx)
	if err != nil {
		return err
	}
	got := res.Report.String()
	l.Printf("client report:\n%s", indent(got))
	if got == st.Expected {
		return nil
	}
	l.Printf("%s", scenario.Diff("expected", st.Expected, "client", got))
	var table bytes.Buffer
	client.WriteExplain(&table, res)
	l.Printf("client -explain:\n%s", table.String())
	disagreed = disagreeing(st, res)
	return ErrMismatch
}

// runClient runs the client binary once with -json (a server answers only one
// client) and returns what it saw.
func (l *Lab) runClient(ctx context.Context) (client.Result, error) {
	var res client.Result
	err := l.Step("client probed the servers", func() error {
		cmd := exec.CommandContext(ctx, l.ClientBin(), "-json", l.InfoDir())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		runErr := cmd.Run()
		if stderr.Len() > 0 {
			l.Printf("client stderr:\n%s", indent(stderr.String()))
		}
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			return fmt.Errorf("%s -json %s: %v; output: %q", l.ClientBin(), l.InfoDir(), errors.Join(runErr, err), stdout.String())
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

// Status prints what the state file says is up, and whether each info file is
// present.
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
	tw := tabwriter.NewWriter(l.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tENV\tPID/CONTAINER\tADDRESS\tINFO FILE\tEXPECTED")
	for _, r := range st.Servers {
		id := r.Container
		if id == "" {
			id = fmt.Sprint(r.PID)
		}
		if len(id) > 12 {
			id = id[:12]
		}
		present := "absent"
		if _, err := readInfo(r.InfoFile); err == nil {
			present = "present"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Env, id, r.Address, present, r.Expectation().Class())
	}
	return tw.Flush()
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

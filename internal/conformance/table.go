package conformance

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/isolab/isolab/internal/shm"
)

// The checks, by the names the table prints. Each is a pitfall seen in
// implementations of the exercise.
const (
	// CheckFiveLines: the client prints the spec's five lines for the scenario
	// (trailing white space aside).
	CheckFiveLines = "five lines as spec"
	// CheckCounts: Host + Container + VM = Total Servers; every server lands in
	// exactly one bucket.
	CheckCounts = "counts add up to total"
	// CheckConnectBound: a client facing one server whose connect hangs (its
	// SYNs go unanswered) finishes within 5 s plus slack: its connect is
	// really bounded (select before a blocking connect bounds nothing).
	CheckConnectBound = "connect bounded by 5 s"
	// CheckNUL: the server's shared-memory message ends in a NUL, so a reader
	// does not see what an earlier run left after it.
	CheckNUL = "shm message ends in NUL"
	// CheckSocketClosed: the server closes the connection right after its
	// message, so a client that reads until EOF returns at once.
	CheckSocketClosed = "socket closed after message"
	// CheckLateAttach: the segment is still there for a client that attaches
	// a second after it is done with the socket.
	CheckLateAttach = "segment kept for late client"
	// CheckMessages: what arrives on each channel is the message as sent, no
	// more (no NUL or newline on the socket).
	CheckMessages = "messages as sent"
	// CheckExits: every process of the scenario exits 0 on its own, in time.
	CheckExits = "processes exit 0"
	// CheckLeaks: no segment of the scenario's keys and no info file is left
	// once every process has exited.
	CheckLeaks = "no leaked segment or info file"
	// CheckSandbox: a submission's code kept to its sandbox: it did nothing
	// the sandbox had to stop (a fork bomb, a CPU or file size limit, a
	// kill(-1), a write outside its directory, a full directory) and left
	// no process or segment of its uid.
	CheckSandbox = "kept to its sandbox"
)

// Outcome is a check's result.
type Outcome string

// The outcomes.
const (
	Pass Outcome = "pass"
	Fail Outcome = "FAIL"
	Skip Outcome = "skip"
)

// Row is one check of one scenario.
type Row struct {
	Env     string  // environment of the servers: host, docker, vm
	Server  string  // whose server: isolab, theirs, or hang (the harness's endpoint whose connect hangs)
	Client  string  // whose client: isolab, theirs, or probe (the harness reading as a late client)
	Check   string  // one of the Check names
	Outcome Outcome // pass, FAIL or skip
	Detail  string  // why, for FAIL and skip; a measure for some passes
}

// Table is the outcome of a Run.
type Table struct {
	Impl  string   // the implementation checked (or the directory of those crossed)
	From  string   // how it was built: make, archives or sources
	Sides []string // the implementations crossed, isolab's first
	Notes []string // environments not run (and why) and other remarks
	Rows  []Row

	keys []shm.Key // every key the run used (its tests check none is left)
}

// Failed returns the rows whose outcome is Fail.
func (t *Table) Failed() []Row {
	var out []Row
	for _, r := range t.Rows {
		if r.Outcome == Fail {
			out = append(out, r)
		}
	}
	return out
}

// Err is nil when no check failed; else it names the failed checks.
func (t *Table) Err() error {
	failed := t.Failed()
	if len(failed) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var names []string
	for _, r := range failed {
		if !seen[r.Check] {
			seen[r.Check] = true
			names = append(names, r.Check)
		}
	}
	return fmt.Errorf("%d of %d checks failed: %s", len(failed), len(t.Rows), strings.Join(names, ", "))
}

// Count returns how many rows have outcome o.
func (t *Table) Count(o Outcome) int {
	n := 0
	for _, r := range t.Rows {
		if r.Outcome == o {
			n++
		}
	}
	return n
}

// Write prints the implementation, the table (one row per check), the notes
// and a summary line.
func (t *Table) Write(w io.Writer) error {
	if t.Impl != "" {
		fmt.Fprintf(w, "implementation: %s (from %s)\n", t.Impl, t.From)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tSERVER\tCLIENT\tCHECK\tRESULT\tDETAIL")
	for _, r := range t.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Env, r.Server, r.Client, r.Check, r.Outcome, oneLine(r.Detail))
	}
	err := tw.Flush()
	for _, n := range t.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	_, werr := fmt.Fprintf(w, "%d checks: %d pass, %d FAIL, %d skip\n", len(t.Rows), t.Count(Pass), t.Count(Fail), t.Count(Skip))
	return errors.Join(err, werr)
}

// oneLine keeps a detail on its row.
func oneLine(s string) string {
	return strings.NewReplacer("\r", "", "\n", "; ", "\t", " ").Replace(strings.TrimSpace(s))
}

package grading

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/isolab/isolab/internal/conformance"
)

// Report prints t and its cross tables to w, writes its Markdown summary to
// summary and, when junit is not "", its JUnit XML there.
func Report(w io.Writer, t *conformance.Table, summary, junit string) error {
	t.Write(w)
	fmt.Fprintln(w)
	WriteCross(w, t)
	for _, out := range []struct {
		path  string
		write func(io.Writer, *conformance.Table) error
	}{{summary, WriteMarkdown}, {junit, WriteJUnit}} {
		if out.path == "" {
			continue
		}
		f, err := os.Create(out.path)
		if err != nil {
			return err
		}
		err = out.write(f, t)
		if err = errors.Join(err, f.Close()); err != nil {
			return fmt.Errorf("write %s: %w", out.path, err)
		}
		fmt.Fprintf(w, "wrote %s\n", out.path)
	}
	return nil
}

// envs lists the environments of t's rows in the order they come, the
// build's first.
func envs(t *conformance.Table) []string {
	var out []string
	for _, r := range t.Rows {
		if !slices.Contains(out, r.Env) {
			out = append(out, r.Env)
		}
	}
	return out
}

// Verdict is what a cell of the cross table says of one server with one
// client: "ok" when the client's five lines were right, "FAIL" when not,
// "skip" when the cell could not run, "" when the table has no such cell.
func Verdict(t *conformance.Table, env, server, client string) string {
	for _, r := range t.Rows {
		if r.Env == env && r.Server == server && r.Client == client && r.Check == conformance.CheckFiveLines {
			switch r.Outcome {
			case conformance.Pass:
				return "ok"
			case conformance.Fail:
				return "FAIL"
			}
			return "skip"
		}
	}
	return ""
}

// WriteCross prints, for each environment, the table of who classifies
// whom right: a row per server, a column per client.
func WriteCross(w io.Writer, t *conformance.Table) error {
	for _, env := range envs(t) {
		if env == "build" {
			continue
		}
		fmt.Fprintf(w, "%s: does the client (column) report the servers (row) right?\n", env)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "SERVER \\ CLIENT\t%s\n", strings.Join(t.Sides, "\t"))
		for _, s := range t.Sides {
			cells := []string{s}
			for _, c := range t.Sides {
				cells = append(cells, Verdict(t, env, s, c))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return nil
}

// WriteMarkdown writes a summary for a grader: the counts, the cross table
// of each environment, every failed check with its detail, and the notes.
func WriteMarkdown(w io.Writer, t *conformance.Table) error {
	fmt.Fprintf(w, "# Conformance of %s\n\n", t.Impl)
	fmt.Fprintf(w, "%d checks: %d pass, %d FAIL, %d skip.\n\n", len(t.Rows), t.Count(conformance.Pass), t.Count(conformance.Fail), t.Count(conformance.Skip))
	for _, env := range envs(t) {
		if env == "build" {
			continue
		}
		fmt.Fprintf(w, "## %s: does the client (column) report the servers (row) right?\n\n", env)
		fmt.Fprintf(w, "| server \\ client | %s |\n|---|%s\n", strings.Join(t.Sides, " | "), strings.Repeat("---|", len(t.Sides)))
		for _, s := range t.Sides {
			cells := []string{"**" + s + "**"}
			for _, c := range t.Sides {
				cells = append(cells, Verdict(t, env, s, c))
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
		fmt.Fprintln(w)
	}
	if failed := t.Failed(); len(failed) > 0 {
		fmt.Fprintf(w, "## Failed checks\n\n| env | server | client | check | detail |\n|---|---|---|---|---|\n")
		for _, r := range failed {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.Env, r.Server, r.Client, r.Check, cell(r.Detail))
		}
		fmt.Fprintln(w)
	}
	for _, n := range t.Notes {
		fmt.Fprintf(w, "- note: %s\n", cell(n))
	}
	return nil
}

// cell keeps text on one line of a Markdown table.
func cell(s string) string {
	return strings.NewReplacer("\n", "<br>", "|", "\\|").Replace(strings.TrimSpace(s))
}

// JUnit XML, as CI systems read it.
type (
	testsuites struct {
		XMLName  xml.Name    `xml:"testsuites"`
		Name     string      `xml:"name,attr"`
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Skipped  int         `xml:"skipped,attr"`
		Suites   []testsuite `xml:"testsuite"`
	}
	testsuite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Skipped  int        `xml:"skipped,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	testcase struct {
		Classname string   `xml:"classname,attr"`
		Name      string   `xml:"name,attr"`
		Failure   *message `xml:"failure,omitempty"`
		Skipped   *message `xml:"skipped,omitempty"`
	}
	message struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
)

// WriteJUnit writes t as JUnit XML: a test suite per environment (the
// build's too), a test case per check, named by the server, the client and
// the check; a FAIL is a failure with the detail, a skip is skipped.
func WriteJUnit(w io.Writer, t *conformance.Table) error {
	all := testsuites{Name: "isolab conformance of " + t.Impl}
	for _, env := range envs(t) {
		s := testsuite{Name: env}
		for _, r := range t.Rows {
			if r.Env != env {
				continue
			}
			c := testcase{Classname: env + "." + r.Server + "-server." + r.Client + "-client", Name: r.Check}
			first, _, _ := strings.Cut(r.Detail, "\n")
			switch r.Outcome {
			case conformance.Fail:
				c.Failure = &message{Message: first, Text: r.Detail}
				s.Failures++
			case conformance.Skip:
				c.Skipped = &message{Message: first}
				s.Skipped++
			}
			s.Cases = append(s.Cases, c)
			s.Tests++
		}
		all.Suites = append(all.Suites, s)
		all.Tests, all.Failures, all.Skipped = all.Tests+s.Tests, all.Failures+s.Failures, all.Skipped+s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

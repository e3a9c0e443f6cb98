package grading

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/conformance"
)

func sample() *conformance.Table {
	row := func(env, s, c, check string, o conformance.Outcome, d string) conformance.Row {
		return conformance.Row{Env: env, Server: s, Client: c, Check: check, Outcome: o, Detail: d}
	}
	return &conformance.Table{Impl: "subs/", Sides: []string{"isolab", "g1", "g2"}, Rows: []conformance.Row{
		row("build", "g1", "g1", "make builds libserver.a and libclient.a", conformance.Pass, ""),
		row("build", "g2", "g2", "make builds libserver.a and libclient.a", conformance.Fail, "make failed\nlast line"),
		row("host", "isolab", "isolab", conformance.CheckFiveLines, conformance.Pass, ""),
		row("host", "isolab", "g1", conformance.CheckFiveLines, conformance.Fail, "line 3: got \"Container: 0\" <&>"),
		row("host", "g1", "isolab", conformance.CheckFiveLines, conformance.Pass, ""),
		row("host", "g2", "isolab", conformance.CheckFiveLines, conformance.Skip, "g2's server did not build"),
		row("host", "g1", "probe", conformance.CheckNUL, conformance.Fail, "read \"ab\""),
	}}
}

// The JUnit file parses, has a test case per check, and its failures and
// skips are the table's.
func TestWriteJUnit(t *testing.T) {
	tab := sample()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, tab); err != nil {
		t.Fatal(err)
	}
	var got testsuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("the JUnit file does not parse: %v\n%s", err, buf.String())
	}
	if got.Tests != len(tab.Rows) || got.Failures != tab.Count(conformance.Fail) || got.Skipped != tab.Count(conformance.Skip) {
		t.Errorf("testsuites: %d tests, %d failures, %d skipped; want %d, %d, %d", got.Tests, got.Failures, got.Skipped,
			len(tab.Rows), tab.Count(conformance.Fail), tab.Count(conformance.Skip))
	}
	var failures []string
	cases := 0
	for _, s := range got.Suites {
		for _, c := range s.Cases {
			cases++
			if c.Failure != nil {
				failures = append(failures, c.Classname+": "+c.Name+": "+c.Failure.Text)
			}
		}
	}
	if cases != len(tab.Rows) {
		t.Errorf("%d test cases, want %d", cases, len(tab.Rows))
	}
	for _, r := range tab.Failed() {
		want := r.Env + "." + r.Server + "-server." + r.Client + "-client: " + r.Check + ": " + r.Detail
		found := false
		for _, f := range failures {
			found = found || f == want
		}
		if !found {
			t.Errorf("no failure %q in %q", want, failures)
		}
	}
}

func TestWriteCross(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCross(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"host: does the client", "SERVER \\ CLIENT  isolab  g1    g2", "isolab           ok      FAIL", "g2               skip"} {
		if !strings.Contains(out, want) {
			t.Errorf("cross table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "build:") {
		t.Errorf("cross table for the build:\n%s", out)
	}
}

func TestWriteMarkdown(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"7 checks: 3 pass, 3 FAIL, 1 skip.", "| **isolab** | ok | FAIL |  |", "| build | g2 | g2 | make builds", "make failed<br>last line"} {
		if !strings.Contains(out, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, out)
		}
	}
}

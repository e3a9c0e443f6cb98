package conformance

import (
	"bytes"
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/report"
	"github.com/isolab/isolab/internal/runenv"
)

func TestCompareReport(t *testing.T) {
	want := report.Report{Total: 3, Host: 1, Container: 1, VM: 1, Messages: []string{"a", "b", "c"}}
	for _, tc := range []struct {
		got  string
		diff string // substring of the difference; "" means none
	}{
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMessages: a b c\n", ""},
		{"Total Servers: 3 \nHost: 1\t\nContainer: 1\r\nVM: 1\nMessages: a b c   \n\n\n", ""},
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMessages: a b c", ""},
		{"Total servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMessages: a b c\n", `line 1: got "Total servers: 3"`},
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMessages: a, b, c\n", `line 5: got "Messages: a, b, c"`},
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMessages: c b a\n", "another order"},
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\n", "line 5 missing"},
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMessages: a b c\nbye\n", `line 6 "bye" is extra`},
		{"Total Servers: 3\nHost: 2\nContainer: 0\nVM: 1\nMessages: a b c\n", `line 2: got "Host: 2", want "Host: 1"; line 3: got "Container: 0"`},
		{"", "no output"},
	} {
		got := compareReport(want, tc.got)
		if tc.diff == "" && got != "" || tc.diff != "" && !strings.Contains(got, tc.diff) {
			t.Errorf("compareReport(%q) = %q, want %q", tc.got, got, tc.diff)
		}
	}
}

func TestCountsCheck(t *testing.T) {
	for _, tc := range []struct {
		text string
		want Outcome
	}{
		{"Total Servers: 5\nHost: 2\nContainer: 2\nVM: 1\nMessages:\n", Pass},
		{"total servers : 5\nhost:2\nCONTAINER: 2 \nvm: 1\n", Pass},
		{"Total Servers: 5\nHost: 2\nContainer: 1\nVM: 1\nMessages: x\n", Fail},
		{"Total Servers: 5\nHost: 2\nVM: 1\n", Skip},
		{"", Skip},
	} {
		if got, detail := countsCheck(tc.text); got != tc.want {
			t.Errorf("countsCheck(%q) = %s (%s), want %s", tc.text, got, detail, tc.want)
		}
	}
}

func TestTable(t *testing.T) {
	tab := &Table{Rows: []Row{
		{Env: "host", Server: "theirs", Client: "isolab", Check: CheckLeaks, Outcome: Fail, Detail: "info file s1\ninfo file s2"},
		{Env: "host", Server: "hang", Client: "theirs", Check: CheckConnectBound, Outcome: Fail, Detail: "killed"},
		{Env: "host", Server: "hang", Client: "isolab", Check: CheckConnectBound, Outcome: Pass},
		{Env: "host", Server: "isolab", Client: "probe", Check: CheckNUL, Outcome: Skip, Detail: "why"},
	}, Notes: []string{"vm not run: no KVM"}}
	if n := len(tab.Failed()); n != 2 {
		t.Errorf("Failed() has %d rows, want 2", n)
	}
	err := tab.Err()
	if err == nil || !strings.Contains(err.Error(), CheckLeaks) || !strings.Contains(err.Error(), CheckConnectBound) {
		t.Errorf("Err() = %v, want both failed checks named", err)
	}
	var b bytes.Buffer
	if err := tab.Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"info file s1; info file s2", "note: vm not run: no KVM", "4 checks: 1 pass, 2 FAIL, 1 skip"} {
		if !strings.Contains(out, want) {
			t.Errorf("Write printed\n%s\nwithout %q", out, want)
		}
	}
	if (&Table{Rows: []Row{{Outcome: Pass}, {Outcome: Skip}}}).Err() != nil {
		t.Error("Err() of a table without failures is not nil")
	}
}

func TestReach(t *testing.T) {
	tests := []struct {
		kind        runenv.Kind
		shm, socket bool
	}{
		{runenv.Host, true, true},
		{runenv.Docker, false, true},
		{runenv.Podman, false, true},
		{runenv.VM, false, false},
	}
	for _, tt := range tests {
		if shm, socket := reach(tt.kind); shm != tt.shm || socket != tt.socket {
			t.Errorf("reach(%s) = %v, %v, want %v, %v", tt.kind, shm, socket, tt.shm, tt.socket)
		}
	}
}

package report_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/report"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		shm, socket bool
		want        report.Class
	}{
		{true, true, report.Host},
		{true, false, report.Container},
		{false, true, report.Container},
		{false, false, report.VM},
	}
	for _, tt := range tests {
		if got := report.Classify(tt.shm, tt.socket); got != tt.want {
			t.Errorf("Classify(%v, %v) = %v, want %v", tt.shm, tt.socket, got, tt.want)
		}
	}
}

// TestEveryServerInOneBucket adds every combination of channels many times and
// checks that the three counts always sum to the total.
func TestEveryServerInOneBucket(t *testing.T) {
	var r report.Report
	var want [4]int
	for i := range 64 {
		shm, socket := i&1 != 0, i&2 != 0
		c := report.Classify(shm, socket)
		want[c]++
		r.Add(c)
		if r.Host+r.Container+r.VM != r.Total {
			t.Fatalf("after %d servers: Host %d + Container %d + VM %d != Total %d", i+1, r.Host, r.Container, r.VM, r.Total)
		}
	}
	if r.VM != want[report.VM] || r.Container != want[report.Container] || r.Host != want[report.Host] || r.Total != 64 {
		t.Errorf("Report = %+v, want VM %d, Container %d, Host %d of 64", r, want[report.VM], want[report.Container], want[report.Host])
	}
	r.Add(report.Class(7)) // an out-of-range class still lands in one bucket
	if r.Host+r.Container+r.VM != r.Total {
		t.Errorf("Add(Class(7)): counts %+v do not sum to Total", r)
	}
}

// The zero Class is no class: a row that never ran must not read as VM.
func TestClassZeroIsNone(t *testing.T) {
	var c report.Class
	if c != report.None || c.String() != "none" {
		t.Errorf("zero Class = %v (%q), want None", int(c), c)
	}
	if report.Classify(false, false) != report.VM {
		t.Error("Classify(false, false) is not VM")
	}
}

func TestClassText(t *testing.T) {
	for _, c := range []report.Class{report.Host, report.Container, report.VM, report.None} {
		b, err := c.MarshalText()
		if err != nil {
			t.Fatalf("%v.MarshalText() = %v", c, err)
		}
		var back report.Class
		if err := back.UnmarshalText(b); err != nil || back != c {
			t.Errorf("UnmarshalText(%q) = %v, %v, want %v", b, back, err, c)
		}
	}
	if got := report.Class(9).String(); got != "Class(9)" {
		t.Errorf("Class(9).String() = %q, want %q", got, "Class(9)")
	}
	var c report.Class
	if err := c.UnmarshalText([]byte("host")); err == nil {
		t.Errorf("UnmarshalText(%q) = nil, want an error", "host")
	}
	b, _ := json.Marshal(struct{ C report.Class }{report.Container})
	if string(b) != `{"C":"Container"}` {
		t.Errorf("json.Marshal(Container) = %s, want the name", b)
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		in   report.Report
		want string
	}{
		{report.Report{}, "Total Servers: 0\nHost: 0\nContainer: 0\nVM: 0\nMessages:\n"},
		{report.Report{Total: 3, Host: 1, Container: 1, VM: 1, Messages: []string{"shm1", "sock1", "sock2"}},
			"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMessages: shm1 sock1 sock2\n"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	three := report.Report{Total: 3, Host: 1, Container: 1, VM: 1, Messages: []string{"a", "b"}}
	tests := []struct {
		in      string
		want    report.Report
		wantErr string
	}{
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMessages: a b\n", three, ""},
		{"Total Servers: 3\r\nHost: 1 \r\nContainer: 1\t\r\nVM: 1\r\nMessages: a b \r\n", three, ""},
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMessages: a b", three, ""},
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMessages: a b\n\n", three, ""},
		{"Total Servers: 0\nHost: 0\nContainer: 0\nVM: 0\nMessages:\n", report.Report{Messages: []string{}}, ""},
		{"Total Servers: 3\nHost: 1\n", report.Report{}, `line 3: missing "Container:"`},
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\n", report.Report{}, `line 5: missing "Messages:"`},
		{"Total: 3\n", report.Report{}, `does not start with "Total Servers:"`},
		{"Total Servers: x\n", report.Report{}, "line 1"},
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMsgs: a\n", report.Report{}, `does not start with "Messages:"`},
		{"Total Servers: 3\nHost: 1\nContainer: 1\nVM: 1\nMessages: a\nmore\n", report.Report{}, "line 6: unexpected"},
	}
	for _, tt := range tests {
		got, err := report.Parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) = %+v, %v, want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, %v, want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestStringParseRoundTrip(t *testing.T) {
	in := report.Report{Total: 4, Host: 2, Container: 1, VM: 1, Messages: []string{"m1", "m2", "m3", "m4"}}
	got, err := report.Parse(in.String())
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Errorf("Parse(%q) = %+v, %v, want %+v", in.String(), got, err, in)
	}
}

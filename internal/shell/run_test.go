package shell

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var log bytes.Buffer
	out, err := Run(context.Background(), Command{
		Argv: []string{"sh", "-c", `echo out; echo err >&2; echo "$GREETING"`},
		Env:  []string{"GREETING=hi there"}, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out != "out\nhi there\n" {
		t.Errorf("Run stdout = %q, want out and the variable", out)
	}
	for _, want := range []string{"$ 'GREETING=hi there' sh -c", "out\n", "err\n"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("Run log = %q, want it to hold %q", log.String(), want)
		}
	}
}

func TestRunFailure(t *testing.T) {
	_, err := Run(context.Background(), Command{Argv: []string{"sh", "-c", "for i in $(seq 30); do echo line$i >&2; done; exit 3"}, Dir: "/"})
	if err == nil {
		t.Fatal("Run of a failing command = nil error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "sh -c 'for i in") || !strings.Contains(msg, "exit status 3") ||
		!strings.Contains(msg, "line30") || strings.Contains(msg, "line10\n") {
		t.Errorf("Run error = %q, want the command line, the status and the last 20 lines", msg)
	}
}

func TestRunBrief(t *testing.T) {
	_, err := Run(context.Background(), Command{Argv: []string{"sh", "-c", "echo a >&2; echo; echo b >&2; echo c >&2; echo d >&2; exit 1"}, Brief: true})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasSuffix(err.Error(), "exit status 1: b | c | d") {
		t.Errorf("Run with Brief: error %q, want one line ending in the last three lines", err)
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\n\n", 5, "a\nb"},
		{"", 3, ""},
	}
	for _, tt := range tests {
		if got := Tail(tt.s, tt.n); got != tt.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

package shell

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

func TestCapped(t *testing.T) {
	c := &Capped{Max: 5}
	for _, w := range []string{"abc", "defg", "hij"} {
		if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
			t.Errorf("Write(%q) = %d, %v, want %d, nil", w, n, err, len(w))
		}
	}
	if got := c.String(); got != "abcde" {
		t.Errorf("String() = %q, want %q", got, "abcde")
	}
}

// Serialized writers never write at once: a writer that notices two
// writers inside it at the same time fails the test.
func TestSerialized(t *testing.T) {
	var inside atomic.Int32
	w := writerFunc(func(p []byte) (int, error) {
		if inside.Add(1) > 1 {
			t.Error("two writes at once")
		}
		time.Sleep(time.Microsecond)
		inside.Add(-1)
		return len(p), nil
	})
	ws := Serialized(w, w)
	var wg sync.WaitGroup
	for _, sw := range ws {
		wg.Go(func() {
			for range 200 {
				sw.Write([]byte("x"))
			}
		})
	}
	wg.Wait()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestIndent(t *testing.T) {
	for in, want := range map[string]string{"a\nb\n": "  a\n  b", "": "  (nothing)", "\n": "  (nothing)", "one": "  one"} {
		if got := Indent(in); got != want {
			t.Errorf("Indent(%q) = %q, want %q", in, got, want)
		}
	}
}

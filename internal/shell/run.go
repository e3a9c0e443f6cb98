package shell

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Command is one program to run to completion.
type Command struct {
	Argv []string
	Dir  string   // "" runs it where this process runs
	Env  []string // added to this process's environment, "K=V"
	// Log, when set, gets the command line (after "$ ") before it runs, and
	// everything the program prints on stderr, and on stdout too unless
	// Stdout is set.
	Log io.Writer
	// Stdout, when set, also gets what the program prints on stdout.
	Stdout io.Writer
	// Brief keeps a failure's error on one line, for errors that are
	// printed as one: the last three lines the program printed, joined.
	Brief bool
	// Combined makes Run return what the program printed on stdout and
	// stderr, interleaved, rather than stdout alone.
	Combined bool
}

// Run runs c and returns what it printed on stdout (see Combined). A failure is an error
// that holds the exact command line, to re-run by hand, and the last lines
// the program printed. The program runs in a process group of its own: a
// Ctrl-C at the terminal does not reach it, and once ctx is done the whole
// group is killed.
func Run(ctx context.Context, c Command) (string, error) {
	if c.Log != nil {
		prefix := ""
		if c.Dir != "" {
			prefix = "cd " + Quote([]string{c.Dir}) + " && "
		}
		fmt.Fprintf(c.Log, "$ %s%s\n", prefix, Quote(append(c.Env[:len(c.Env):len(c.Env)], c.Argv...)))
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	ownGroup(cmd)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	var stdout, both bytes.Buffer
	outs := []io.Writer{&stdout, &both}
	errs := []io.Writer{&both}
	if c.Stdout != nil {
		outs = append(outs, c.Stdout)
	}
	if c.Log != nil {
		errs = append(errs, c.Log)
		if c.Stdout == nil {
			outs = append(outs, c.Log)
		}
	}
	streams := Serialized(io.MultiWriter(outs...), io.MultiWriter(errs...))
	cmd.Stdout, cmd.Stderr = streams[0], streams[1]
	cmd.WaitDelay = 5 * time.Second
	result := &stdout
	if c.Combined {
		result = &both
	}
	if err := cmd.Run(); err != nil {
		line := Quote(append(c.Env[:len(c.Env):len(c.Env)], c.Argv...))
		switch t := Tail(both.String(), 20); {
		case t == "":
			return result.String(), fmt.Errorf("%s: %w", line, err)
		case c.Brief:
			return result.String(), fmt.Errorf("%s: %w: %s", line, err, brief(t, 3))
		default:
			return result.String(), fmt.Errorf("%s: %w\n%s", line, err, t)
		}
	}
	return result.String(), nil
}

// brief joins the last n non-blank lines of s with " | ".
func brief(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// Tail returns the last n lines of s, without trailing blank lines.
func Tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TailFile returns the last n lines of the file at path, or a note that it
// cannot be read.
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return Tail(string(b), n)
}

// Indent returns s with every line indented by two spaces, for output quoted
// under a line of its own; "(nothing)" when s is empty.
func Indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "  (nothing)"
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

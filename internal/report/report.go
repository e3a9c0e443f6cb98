package report

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Class is where the client believes a server runs.
type Class int

// The three classes of the exercise; every server the client probes lands in
// exactly one. The zero value is None, so that a server nobody probed (a
// matrix row that did not run) is never taken for one of them.
const (
	None      Class = iota // not probed: no class
	VM                     // neither shared memory nor the socket reached it
	Container              // exactly one of the two channels reached it
	Host                   // both channels reached it
)

// String returns the class's name as the five-line report spells it.
func (c Class) String() string {
	switch c {
	case Host:
		return "Host"
	case Container:
		return "Container"
	case VM:
		return "VM"
	case None:
		return "none"
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// MarshalText makes a Class appear by name in JSON.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText parses a class name written by MarshalText.
func (c *Class) UnmarshalText(b []byte) error {
	switch string(b) {
	case "Host":
		*c = Host
	case "Container":
		*c = Container
	case "VM":
		*c = VM
	case "none":
		*c = None
	default:
		return fmt.Errorf("unknown class %q (want Host, Container or VM)", b)
	}
	return nil
}

// Classify applies the exercise's rule: both channels work means Host, neither
// means VM, exactly one means Container.
func Classify(shmWorks, socketWorks bool) Class {
	switch {
	case shmWorks && socketWorks:
		return Host
	case shmWorks || socketWorks:
		return Container
	}
	return VM
}

// Report is the client's output: counts per class and the messages in order
// (for each server in file-name order, its shared-memory message, then its
// socket message).
type Report struct {
	Total     int      `json:"total"`
	Host      int      `json:"host"`
	Container int      `json:"container"`
	VM        int      `json:"vm"`
	Messages  []string `json:"messages"`
}

// Add counts one server of class c.
func (r *Report) Add(c Class) {
	r.Total++
	switch c {
	case Host:
		r.Host++
	case Container:
		r.Container++
	default:
		r.VM++
	}
}

// String renders the exercise's five lines, each ending in a newline:
//
//	Total Servers: N
//	Host: h
//	Container: c
//	VM: v
//	Messages: m1 m2 ...
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Total Servers: %d\nHost: %d\nContainer: %d\nVM: %d\nMessages:", r.Total, r.Host, r.Container, r.VM)
	for _, m := range r.Messages {
		b.WriteByte(' ')
		b.WriteString(m)
	}
	b.WriteByte('\n')
	return b.String()
}

// Parse reads the five lines written by String (or by a C++ implementation of the
// exercise: trailing white space on a line is ignored). Messages are split on
// white space, so a message that itself holds spaces does not survive a round trip;
// compare rendered text when that matters.
func Parse(text string) (Report, error) {
	var r Report
	sc := bufio.NewScanner(strings.NewReader(text))
	fields := []struct {
		prefix string
		dst    *int
	}{
		{"Total Servers:", &r.Total},
		{"Host:", &r.Host},
		{"Container:", &r.Container},
		{"VM:", &r.VM},
	}
	line := 0
	for _, f := range fields {
		line++
		if !sc.Scan() {
			return r, fmt.Errorf("report line %d: missing %q", line, f.prefix)
		}
		rest, ok := strings.CutPrefix(strings.TrimRight(sc.Text(), " \t\r"), f.prefix)
		if !ok {
			return r, fmt.Errorf("report line %d: %q does not start with %q", line, sc.Text(), f.prefix)
		}
		n, err := strconv.Atoi(strings.TrimSpace(rest))
		if err != nil {
			return r, fmt.Errorf("report line %d: %q: %w", line, sc.Text(), err)
		}
		*f.dst = n
	}
	line++
	if !sc.Scan() {
		return r, fmt.Errorf("report line %d: missing \"Messages:\"", line)
	}
	rest, ok := strings.CutPrefix(sc.Text(), "Messages:")
	if !ok {
		return r, fmt.Errorf("report line %d: %q does not start with \"Messages:\"", line, sc.Text())
	}
	r.Messages = strings.Fields(rest)
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) != "" {
			return r, fmt.Errorf("report line %d: unexpected %q after the five lines", line, sc.Text())
		}
	}
	return r, sc.Err()
}

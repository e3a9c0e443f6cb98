package conformance

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/isolab/isolab/internal/report"
)

// compareReport checks a client's output against the expected five lines,
// ignoring trailing white space on each line and blank lines at the end. It
// returns "" when they agree, else what differs.
func compareReport(want report.Report, got string) string {
	wl := lines(want.String())
	gl := lines(got)
	var diffs []string
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		var d string
		switch {
		case w == g:
			continue
		case i >= len(gl):
			d = fmt.Sprintf("line %d missing, want %q", i+1, w)
		case i >= len(wl):
			d = fmt.Sprintf("line %d %q is extra", i+1, g)
		default:
			d = fmt.Sprintf("line %d: got %q, want %q", i+1, g, w)
			if i == 4 && sameMessages(w, g) {
				d += " (the same messages in another order: the spec's order is the info files' names, shm message before socket message)"
			}
		}
		if diffs = append(diffs, d); len(diffs) == 3 {
			break
		}
	}
	if len(gl) == 0 {
		return "no output"
	}
	return strings.Join(diffs, "; ")
}

// lines splits text into lines without trailing white space, dropping blank
// lines at the end.
func lines(text string) []string {
	ls := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := range ls {
		ls[i] = strings.TrimRight(ls[i], " \t\r")
	}
	for len(ls) > 0 && ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	return ls
}

func sameMessages(want, got string) bool {
	w, g := strings.Fields(want), strings.Fields(got)
	slices.Sort(w)
	slices.Sort(g)
	return slices.Equal(w, g)
}

// counts finds the four counts in a client's output, leniently (any case, any
// order, any spacing around the colon), so that the sum can be checked even
// when the five lines are off.
func counts(text string) (total, host, container, vm int, ok bool) {
	want := map[string]*int{"total servers": &total, "host": &host, "container": &container, "vm": &vm}
	seen := 0
	for _, l := range lines(text) {
		label, value, found := strings.Cut(l, ":")
		if !found {
			continue
		}
		p, known := want[strings.ToLower(strings.TrimSpace(label))]
		if !known {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil {
			continue
		}
		*p = n
		delete(want, strings.ToLower(strings.TrimSpace(label)))
		seen++
	}
	return total, host, container, vm, seen == 4
}

// countsCheck is the outcome of CheckCounts for a client's output.
func countsCheck(text string) (Outcome, string) {
	total, host, container, vm, ok := counts(text)
	if !ok {
		return Skip, "the output holds no Total Servers, Host, Container and VM counts"
	}
	if host+container+vm != total {
		return Fail, fmt.Sprintf("Host %d + Container %d + VM %d = %d, but Total Servers: %d: some server is in no bucket (or in two)",
			host, container, vm, host+container+vm, total)
	}
	return Pass, ""
}

// trunc shortens s for a table cell.
func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

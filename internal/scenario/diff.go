package scenario

import (
	"fmt"
	"strings"
)

// diffContext is how many unchanged lines a hunk shows around a change.
const diffContext = 3

// Diff returns a unified diff that turns text a, named aName in the "---" header,
// into text b, named bName in the "+++" header, with three lines of context, as
// `diff -u` prints it; "" when a and b are equal. A last line without a newline is
// marked "\ No newline at end of file". It compares whole lines and takes time and
// memory proportional to the product of the two line counts, which is fine for
// reports and small files.
func Diff(aName, a, bName, b string) string {
	if a == b {
		return ""
	}
	ops := diffLines(splitLines(a), splitLines(b))
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", aName, bName)

	// aLine[i] and bLine[i] count the lines of a and b before ops[i].
	aLine := make([]int, len(ops)+1)
	bLine := make([]int, len(ops)+1)
	for i, op := range ops {
		aLine[i+1], bLine[i+1] = aLine[i], bLine[i]
		if op.kind != '+' {
			aLine[i+1]++
		}
		if op.kind != '-' {
			bLine[i+1]++
		}
	}

	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		// A hunk starts diffContext lines before this change and runs until the
		// first stretch of more than 2*diffContext unchanged lines, or the end.
		start := max(0, i-diffContext)
		end, same := i, 0
		for ; end < len(ops) && same <= 2*diffContext; end++ {
			if ops[end].kind == ' ' {
				same++
			} else {
				same = 0
			}
		}
		end -= max(0, same-diffContext)
		fmt.Fprintf(&out, "@@ -%s +%s @@\n",
			hunkRange(aLine[start], aLine[end]-aLine[start]),
			hunkRange(bLine[start], bLine[end]-bLine[start]))
		for _, op := range ops[start:end] {
			out.WriteByte(op.kind)
			out.WriteString(op.line)
			if !strings.HasSuffix(op.line, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = end
	}
	return out.String()
}

// hunkRange renders a hunk header's range of n lines after the first `before` lines
// of a file, as GNU diff does: "start,n", just "start" when n is 1, and the line
// before the hunk when n is 0.
func hunkRange(before, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, n)
}

// diffOp is one line of an edit script: kept (' '), deleted ('-') or added ('+').
type diffOp struct {
	kind byte
	line string // with its "\n", if it has one
}

// splitLines cuts s after each "\n"; a last line without one is kept as it is.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// diffLines returns a shortest edit script from a to b: a longest common
// subsequence by dynamic programming, after trimming the common ends. Within a
// change, deletions come before additions.
func diffLines(a, b []string) []diffOp {
	var head, tail []diffOp
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		head = append(head, diffOp{' ', a[0]})
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		tail = append(tail, diffOp{' ', a[len(a)-1]})
		a, b = a[:len(a)-1], b[:len(b)-1]
	}

	// lcs[i][j] is the length of a longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}

	ops := head
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i]})
			i++
			j++
		case j == len(b) || (i < len(a) && lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, diffOp{'-', a[i]})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j]})
			j++
		}
	}
	for k := len(tail) - 1; k >= 0; k-- {
		ops = append(ops, tail[k])
	}
	return ops
}

package scenario

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	reportA = "Total Servers: 4\nHost: 2\nContainer: 2\nVM: 0\nMessages: d1 d2 h1 h1 h2 h2\n"
	reportB = "Total Servers: 4\nHost: 3\nContainer: 1\nVM: 0\nMessages: d1s d1 d2 h1 h1 h2 h2\n"
)

var diffTests = []struct {
	name, a, b, want string
}{
	{"equal", reportA, reportA, ""},
	{"both empty", "", "", ""},
	{"report", reportA, reportB, `--- expected
+++ got
@@ -1,5 +1,5 @@
 Total Servers: 4
-Host: 2
-Container: 2
+Host: 3
+Container: 1
 VM: 0
-Messages: d1 d2 h1 h1 h2 h2
+Messages: d1s d1 d2 h1 h1 h2 h2
`},
	{"added at the end", "a\nb\n", "a\nb\nc\n", `--- expected
+++ got
@@ -1,2 +1,3 @@
 a
 b
+c
`},
	{"deleted at the start", "a\nb\nc\nd\ne\n", "b\nc\nd\ne\n", `--- expected
+++ got
@@ -1,4 +1,3 @@
-a
 b
 c
 d
`},
	{"from nothing", "", "x\ny\n", `--- expected
+++ got
@@ -0,0 +1,2 @@
+x
+y
`},
	{"to nothing", "x\n", "", `--- expected
+++ got
@@ -1 +0,0 @@
-x
`},
	{"one line each", "x\n", "y\n", `--- expected
+++ got
@@ -1 +1 @@
-x
+y
`},
	{"no newline at end", "a\nb\n", "a\nb", `--- expected
+++ got
@@ -1,2 +1,2 @@
 a
-b
+b
\ No newline at end of file
`},
	{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n", "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\nY\n15\n", `--- expected
+++ got
@@ -1,5 +1,5 @@
 1
-2
+X
 3
 4
 5
@@ -11,5 +11,5 @@
 11
 12
 13
-14
+Y
 15
`},
	{"two hunks seven lines apart", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\nX\n3\n4\n5\n6\n7\n8\n9\nY\n", `--- expected
+++ got
@@ -1,5 +1,5 @@
 1
-2
+X
 3
 4
 5
@@ -7,4 +7,4 @@
 7
 8
 9
-10
+Y
`},
	{"one hunk across six lines", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\nX\n3\n4\n5\n6\n7\n8\nY\n", `--- expected
+++ got
@@ -1,9 +1,9 @@
 1
-2
+X
 3
 4
 5
 6
 7
 8
-9
+Y
`},
}

func TestDiff(t *testing.T) {
	for _, tt := range diffTests {
		if got := Diff("expected", tt.a, "got", tt.b); got != tt.want {
			t.Errorf("Diff(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestDiffMatchesGNU checks the table against the system's diff -u, where there is one.
func TestDiffMatchesGNU(t *testing.T) {
	bin, err := exec.LookPath("diff")
	if err != nil {
		t.Skip("diff not found (try: apt-get install diffutils)")
	}
	dir := t.TempDir()
	for _, tt := range diffTests {
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		if err := os.WriteFile(a, []byte(tt.a), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(b, []byte(tt.b), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-u", "--label", "expected", "--label", "got", a, b).Output()
		if err != nil && len(out) == 0 && tt.want != "" {
			t.Fatalf("%s -u: %v", bin, err)
		}
		if got := Diff("expected", tt.a, "got", tt.b); got != string(out) {
			t.Errorf("%s: Diff(%q, %q) = %q, but diff -u says %q", tt.name, tt.a, tt.b, got, out)
		}
	}
}

func TestDiffLines(t *testing.T) {
	// A shortest edit script keeps the longest common subsequence.
	a := strings.Split("a b c a b b a", " ")
	b := strings.Split("c b a b a c", " ")
	kept := 0
	for _, op := range diffLines(a, b) {
		if op.kind == ' ' {
			kept++
		}
	}
	if kept != 4 {
		t.Errorf("diffLines(%q, %q) keeps %d lines, want 4", a, b, kept)
	}
}

// applyDiff applies a unified diff made by Diff to a, checking each hunk's header
// and context against a, and returns the result.
func applyDiff(a, diff string) (string, error) {
	src := splitLines(a)
	lines := splitLines(diff)
	if len(lines) < 2 {
		return "", fmt.Errorf("no headers")
	}
	var out []string
	pos := 0 // lines of src consumed
	for i := 2; i < len(lines); {
		var as, ac, bs, bc int
		h := strings.TrimSuffix(lines[i], "\n")
		f := strings.Fields(h) // @@ -as,ac +bs,bc @@
		if len(f) != 4 || f[0] != "@@" || f[3] != "@@" {
			return "", fmt.Errorf("bad hunk header %q", h)
		}
		parse := func(r string) (int, int) {
			s, c, ok := strings.Cut(r[1:], ",")
			n, _ := strconv.Atoi(s)
			if !ok {
				return n, 1
			}
			m, _ := strconv.Atoi(c)
			return n, m
		}
		as, ac = parse(f[1])
		bs, bc = parse(f[2])
		start := as - 1
		if ac == 0 {
			start = as
		}
		if start < pos {
			return "", fmt.Errorf("hunk %q overlaps the one before", h)
		}
		out = append(out, src[pos:start]...)
		if got := len(out) + 1; bc > 0 && got != bs || bc == 0 && got-1 != bs {
			return "", fmt.Errorf("hunk %q: new file at line %d", h, got)
		}
		pos = start
		i++
		for ; i < len(lines) && !strings.HasPrefix(lines[i], "@@"); i++ {
			l := lines[i]
			if i+1 < len(lines) && lines[i+1] == "\\ No newline at end of file\n" {
				l = strings.TrimSuffix(l, "\n")
				i++
			}
			switch l[0] {
			case ' ', '-':
				if pos >= len(src) || src[pos] != l[1:] {
					return "", fmt.Errorf("hunk %q: line %d of a is not %q", h, pos+1, l[1:])
				}
				pos++
				ac--
				if l[0] == ' ' {
					out = append(out, l[1:])
					bc--
				}
			case '+':
				out = append(out, l[1:])
				bc--
			default:
				return "", fmt.Errorf("bad line %q", l)
			}
		}
		if ac != 0 || bc != 0 {
			return "", fmt.Errorf("hunk %q: counts off by %d, %d", h, ac, bc)
		}
	}
	out = append(out, src[pos:]...)
	return strings.Join(out, ""), nil
}

// TestDiffRandom diffs random texts over a small alphabet, applies each diff, and
// checks, for the first 50, that it changes as few lines as GNU diff --minimal,
// where there is one.
func TestDiffRandom(t *testing.T) {
	gnu, _ := exec.LookPath("diff")
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	text := func() string {
		var b strings.Builder
		n := r.IntN(30)
		for i := range n {
			b.WriteString(string(rune('a' + r.IntN(4))))
			if i < n-1 || r.IntN(4) > 0 {
				b.WriteByte('\n')
			}
		}
		return b.String()
	}
	changed := func(d string) int {
		n := 0
		for _, l := range splitLines(d) {
			if (l[0] == '-' || l[0] == '+') && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "+++") {
				n++
			}
		}
		return n
	}
	for i := range 500 {
		a, b := text(), text()
		d := Diff("a", a, "b", b)
		got, err := applyDiff(a, d)
		if a != b && (err != nil || got != b) {
			t.Fatalf("Diff(%q, %q) = %q, which applies as %q, %v", a, b, d, got, err)
		}
		if gnu == "" || i >= 50 { // each run of diff costs a fork
			continue
		}
		pa, pb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		_ = os.WriteFile(pa, []byte(a), 0o644)
		_ = os.WriteFile(pb, []byte(b), 0o644)
		out, _ := exec.Command(gnu, "-u", "--minimal", pa, pb).Output()
		if changed(d) != changed(string(out)) {
			t.Fatalf("Diff(%q, %q) changes %d lines, diff --minimal %d:\n%s\n%s", a, b, changed(d), changed(string(out)), d, out)
		}
	}
}

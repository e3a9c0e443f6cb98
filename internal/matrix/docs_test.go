package matrix

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "regenerate docs/ANSWERS.md's table from docs/matrix.json")

const docsDir = "../../docs"

func committed(t *testing.T) (*Matrix, []byte) {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(docsDir, "matrix.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(docsDir, "ANSWERS.md"))
	if err != nil {
		t.Fatal(err)
	}
	return m, doc
}

// TestDocsTable fails when the table in docs/ANSWERS.md is not what the code
// prints for the measurements in docs/matrix.json, or when those no longer
// fit the code (rows, derivations). Fix with -update when only the rendering
// or a derivation changed; measure again (LAB_MATRIX_DOCS=1 go tool mage
// lab:matrix) when the variants changed.
func TestDocsTable(t *testing.T) {
	m, doc := committed(t)
	labels := Labels()
	var rows []string
	for i, r := range m.Rows {
		rows = append(rows, r.Variant)
		if d := r.Derive(); !reflect.DeepEqual(d, r) {
			if !*update {
				t.Errorf("docs/matrix.json row %q: derived fields %+v, the code derives %+v (run: go test ./internal/matrix -run TestDocs -update)", r.Variant, r, d)
			}
			m.Rows[i] = d
		}
	}
	if !reflect.DeepEqual(rows, labels) {
		t.Errorf("docs/matrix.json has rows %q, the code's variants are %q: measure again with LAB_MATRIX_DOCS=1 go tool mage lab:matrix", rows, labels)
	}
	if *update {
		if err := WriteDocs(docsDir, m); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := Section(doc)
	if err != nil {
		t.Fatalf("docs/ANSWERS.md: %v", err)
	}
	if want := Markdown(m); got != want {
		t.Errorf("docs/ANSWERS.md's table differs from Markdown(docs/matrix.json) (run: go test ./internal/matrix -run TestDocs -update):\n--- ANSWERS.md\n%s\n--- Markdown\n%s", got, want)
	}
}

// citation is how docs/ANSWERS.md cites a row: its label in italics.
var citation = regexp.MustCompile(`(?:^|[^*\w])\*([^*\n]+)\*(?:[^*\w]|$)`)

// TestDocsCiteRows checks that every row docs/ANSWERS.md cites exists, and
// that each of its answers cites one.
func TestDocsCiteRows(t *testing.T) {
	_, doc := committed(t)
	table, _ := Section(doc)
	text := strings.Replace(string(doc), table, "", 1)
	labels := map[string]bool{}
	for _, l := range Labels() {
		labels[l] = true
	}
	for _, section := range strings.Split(text, "\n## ")[1:] {
		title, _, _ := strings.Cut(section, "\n")
		cites := citation.FindAllStringSubmatch(section, -1)
		if len(cites) == 0 && strings.HasPrefix(title, "Q") {
			t.Errorf("docs/ANSWERS.md: %q cites no row of the table", title)
		}
		for _, c := range cites {
			if !labels[c[1]] {
				t.Errorf("docs/ANSWERS.md: %q cites *%s*, which is no row of the table", title, c[1])
			}
		}
	}
}

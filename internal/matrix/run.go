package matrix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/isolab/isolab/internal/lab"
)

// ErrSurprise is returned by Run when a measurement contradicts the lab's
// derivation of what the client should see.
var ErrSurprise = errors.New("a measurement contradicts the lab's derivation")

// Run measures the matrix, prints it as a table, writes matrix.json and
// matrix.md to the lab directory and, when $LAB_MATRIX_DOCS is 1,
// docs/matrix.json and the table in docs/ANSWERS.md. It fails when a run
// failed or left anything behind, and, after writing, on a surprise.
func Run(ctx context.Context, cfg lab.Config) error {
	l, err := lab.New(cfg) // for its directories and output
	if err != nil {
		return err
	}
	m, err := Measure(ctx, cfg)
	if err != nil {
		return err
	}
	var table bytes.Buffer
	WriteText(&table, m)
	l.Printf("\n%s", strings.TrimRight(table.String(), "\n"))
	dir := filepath.Join(l.Dir, "matrix")
	if err := Write(dir, m); err != nil {
		return err
	}
	l.Printf("wrote %s and %s", filepath.Join(dir, "matrix.json"), filepath.Join(dir, "matrix.md"))
	if os.Getenv(VarDocs) == "1" {
		docs := filepath.Join(l.Root, "docs")
		if err := WriteDocs(docs, m); err != nil {
			return err
		}
		l.Printf("wrote %s and the table in %s", filepath.Join(docs, "matrix.json"), filepath.Join(docs, "ANSWERS.md"))
	}
	if s := m.Surprises(); len(s) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrSurprise, strings.Join(s, "\n  "))
	}
	return nil
}

// Write puts the measurements in dir/matrix.json and their Markdown table in
// dir/matrix.md.
func Write(dir string, m *Matrix) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := JSON(m)
	if err != nil {
		return err
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, "matrix.json"), js, 0o644),
		os.WriteFile(filepath.Join(dir, "matrix.md"), []byte(Markdown(m)), 0o644))
}

// WriteDocs puts the measurements in docs/matrix.json and regenerates the
// table between the markers of docs/ANSWERS.md.
func WriteDocs(docs string, m *Matrix) error {
	answers := filepath.Join(docs, "ANSWERS.md")
	doc, err := os.ReadFile(answers)
	if err != nil {
		return err
	}
	if doc, err = Replace(doc, Markdown(m)); err != nil {
		return fmt.Errorf("%s: %w", answers, err)
	}
	js, err := JSON(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(docs, "matrix.json"), js, 0o644); err != nil {
		return err
	}
	return os.WriteFile(answers, doc, 0o644)
}

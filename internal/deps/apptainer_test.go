package deps

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A copy of a read-only tree is writable by its owner (Apptainer writes its
// session state under its own var/), and keeps its symlinks and modes.
func TestCopyTree(t *testing.T) {
	src := filepath.Join(t.TempDir(), "apptainer")
	for _, d := range []string{"bin", "var/apptainer"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "bin", "apptainer"), []byte("#!/bin/sh\necho 1.5.3\n"), 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("apptainer", filepath.Join(src, "bin", "singularity")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"var/apptainer", "var", "bin", ""} {
		if err := os.Chmod(filepath.Join(src, d), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", src).Run() })
	dst := filepath.Join(t.TempDir(), "opt", "isolab-apptainer")
	if err := copyTree(t.Context(), src, dst); err != nil {
		t.Fatalf("copyTree: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dst, "var", "apptainer", "state"), nil, 0o644); err != nil {
		t.Errorf("the copy's var/ is not writable: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dst, "bin", "apptainer")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("the copy's bin/apptainer: %v, %v; want mode 0755", st.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "bin", "singularity")); err != nil || l != "apptainer" {
		t.Errorf("the copy's bin/singularity = %q, %v; want a link to apptainer", l, err)
	}
	if _, err := os.Stat(dst + ".new"); err == nil {
		t.Error("copyTree left its .new directory")
	}
}

// A copy under the lab's directory goes first on PATH when PATH has no
// apptainer, and a PATH that has one is left alone.
func TestUseLabApptainer(t *testing.T) {
	defer func(l string) { LabApptainer = l }(LabApptainer)
	LabApptainer = filepath.Join(t.TempDir(), "apptainer")
	if err := os.MkdirAll(filepath.Join(LabApptainer, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(LabApptainer, "bin", "apptainer"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "/no/such/dir")
	if err := UseLabApptainer(); err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("PATH"); !strings.HasPrefix(p, filepath.Join(LabApptainer, "bin")+":") {
		t.Errorf("PATH = %q, want the lab's Apptainer first", p)
	}
	path := os.Getenv("PATH")
	if err := UseLabApptainer(); err != nil || os.Getenv("PATH") != path {
		t.Errorf("a second UseLabApptainer changed PATH to %q (%v)", os.Getenv("PATH"), err)
	}
}

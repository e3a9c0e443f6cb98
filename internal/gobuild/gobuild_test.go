package gobuild

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStatic(t *testing.T) {
	root, err := Root(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths, err := Static(context.Background(), root, dir, Server, Init)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{filepath.Join(dir, "server"), filepath.Join(dir, "lab-init")} {
		if paths[i] != want {
			t.Errorf("Static path %d = %s, want %s", i, paths[i], want)
		}
		f, err := elf.Open(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has an interpreter: not static", paths[i])
			}
		}
		f.Close()
	}
	// Two builds give the same bytes: the VM image's key depends on it.
	again, err := Static(context.Background(), root, t.TempDir(), Init)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(paths[1])
	b, _ := os.ReadFile(again[0])
	if !bytes.Equal(a, b) {
		t.Error("two builds of lab-init differ")
	}
	if _, err := Static(context.Background(), root, dir, "no-such-command"); err == nil || !strings.Contains(err.Error(), "no-such-command") {
		t.Errorf("Static(no-such-command) error = %v, want one naming it", err)
	}
}

func TestRoot(t *testing.T) {
	root, err := Root(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Errorf("Root(.) = %s without go.mod", root)
	}
	if _, err := Root("/"); err == nil {
		t.Error("Root(/) found a go.mod")
	}
}

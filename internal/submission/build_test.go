package conformance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildImplNeedsHeaders(t *testing.T) {
	needCXX(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "server.cpp"), []byte("int x;\n"), 0o644)
	_, err := BuildImpl(context.Background(), root, dir, filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(err.Error(), "no server.h") {
		t.Errorf("BuildImpl without headers: %v, want an error naming server.h", err)
	}
}

func TestBuildImplLeavesOutMains(t *testing.T) {
	needCXX(t)
	dir := t.TempDir()
	for _, h := range courseHeaders {
		b, err := os.ReadFile(filepath.Join(root, "clib", "include", h))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, h), b, 0o644)
	}
	// A library that does nothing, and a main of the implementation's own
	// that would clash with the adapter's.
	os.WriteFile(filepath.Join(dir, "lib.cpp"), []byte(`#include "server.h"
#include "client.h"
void run(const server_setup_information&, const std::string&, const std::string&) {}
void run(const std::string&) {}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "main.cpp"), []byte("int main() { return 0; }\n"), 0o644)
	out := filepath.Join(dir, "out")
	impl, err := BuildImpl(context.Background(), root, dir, out)
	if err != nil {
		t.Fatalf("BuildImpl: %v", err)
	}
	if impl.From != "sources" || len(impl.Mains) != 1 || filepath.Base(impl.Mains[0]) != "main.cpp" {
		t.Errorf("BuildImpl = %+v, want From sources and main.cpp left out", impl)
	}
	for _, bin := range []string{impl.Server, impl.Client} {
		if _, err := os.Stat(bin); err != nil {
			t.Errorf("adapter %s: %v", bin, err)
		}
	}
}

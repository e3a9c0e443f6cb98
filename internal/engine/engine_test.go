package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewMissingEngineNamesThePackage(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for k, pkg := range map[Kind]string{Docker: "apt-get install docker.io", Podman: "apt-get install podman"} {
		_, err := New(k)
		if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), pkg) {
			t.Errorf("New(%s) error = %v, want ErrNotInstalled naming %q", k, err, pkg)
		}
	}
	if _, err := New("lxc"); err == nil {
		t.Error("New(lxc) succeeded, want an error")
	}
}

func TestInputHash(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\n")
	write("server", "v1")
	write("client", "c1")
	spec := BuildSpec{Repo: "localhost/x", File: filepath.Join(dir, "Dockerfile"), Context: dir, Inputs: []string{"server"}}
	hash := func() string {
		t.Helper()
		h, err := InputHash(spec)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 12 {
			t.Fatalf("InputHash = %q, want 12 hex digits", h)
		}
		return h
	}
	h1 := hash()
	write("client", "c2")
	if h := hash(); h != h1 {
		t.Errorf("InputHash changed with a file outside Inputs: %s -> %s", h1, h)
	}
	write("server", "v2")
	h2 := hash()
	if h2 == h1 {
		t.Errorf("InputHash did not change with the server binary")
	}
	write("Dockerfile", "FROM scratch\nUSER 1:1\n")
	if h := hash(); h == h2 {
		t.Errorf("InputHash did not change with the Dockerfile")
	}
	if err := os.Chmod(filepath.Join(dir, "server"), 0o644); err != nil {
		t.Fatal(err)
	}
	h3 := hash()
	spec.Inputs = nil // every file in the context, client included
	if h := hash(); h == h3 {
		t.Errorf("InputHash with no Inputs ignored the other files")
	}
	ref, err := ImageRef(Docker, spec)
	if err != nil || !strings.HasPrefix(ref, "localhost/x:") {
		t.Errorf("ImageRef(docker) = %q, %v; want localhost/x:<hash>", ref, err)
	}
	ref, err = ImageRef(Apptainer, spec)
	if err != nil || !strings.HasPrefix(ref, "localhost/x-") || !strings.HasSuffix(ref, ".sif") {
		t.Errorf("ImageRef(apptainer) = %q, %v; want localhost/x-<hash>.sif", ref, err)
	}
	spec.Inputs = []string{"missing"}
	if _, err := InputHash(spec); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("InputHash with a missing input: %v, want os.ErrNotExist", err)
	}
}

// TestBuildSIF runs Build for Apptainer with the real apptainer: it builds
// where %files paths start, caches the SIF by its inputs, and builds a new
// one, removing the old, when an input changes.
func TestBuildSIF(t *testing.T) {
	e, err := New(Apptainer)
	if err != nil {
		t.Skip(err)
	}
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	server := filepath.Join(repo, "bin", "server")
	def := filepath.Join(repo, "server.def")
	if err := os.WriteFile(server, []byte("server v1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A relative %files source: found only when the build runs in Context.
	if err := os.WriteFile(def, []byte("Bootstrap: scratch\n\n%files\n    bin/server /server\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := BuildSpec{Repo: filepath.Join(t.TempDir(), "server"), File: def, Context: repo, Inputs: []string{"bin/server"}}
	ctx := context.Background()
	first, err := e.Build(ctx, spec)
	if err != nil || !first.Built {
		t.Fatalf("Build = %+v, %v; want a new image", first, err)
	}
	if b, err := os.ReadFile(first.Ref); err != nil || !strings.Contains(string(b), "SIF_MAGIC") {
		t.Fatalf("image %s: %v; want a SIF file", first.Ref, err)
	}
	if again, err := e.Build(ctx, spec); err != nil || again.Built || again.Ref != first.Ref {
		t.Errorf("second Build = %+v, %v; want %s found, not built", again, err, first.Ref)
	}
	if err := os.WriteFile(server, []byte("server v2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	second, err := e.Build(ctx, spec)
	if err != nil || !second.Built || second.Ref == first.Ref {
		t.Fatalf("Build after the server changed = %+v, %v; want a new image", second, err)
	}
	if _, err := os.Stat(first.Ref); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old image %s still there: %v", first.Ref, err)
	}
	if left, _ := filepath.Glob(second.Ref + ".tmp"); len(left) > 0 {
		t.Errorf("temporary image left: %v", left)
	}
}

package vm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeInputs lays out a script dir like scripts/ (a script and a vm/ dir) and
// a server binary. The script writes the three image files and appends a line
// to runs.
func fakeInputs(t *testing.T) (script, server, runs string) {
	t.Helper()
	dir := t.TempDir()
	script = filepath.Join(dir, "scripts", "vm-image.sh")
	runs = filepath.Join(dir, "runs")
	server = filepath.Join(dir, "server")
	write(t, script, `#!/bin/bash
set -e
echo "vm image: fake build"
mkdir -p "$2"
for f in disk.img vmlinux initrd.img; do echo "$1" >"$2/$f"; done
echo run >>`+runs+"\n", 0o755)
	write(t, filepath.Join(dir, "scripts", "vm", "packages"), "systemd\n", 0o644)
	write(t, filepath.Join(dir, "scripts", "vm", "rootfs", "usr", "local", "sbin", "lab-guest"), "#!/bin/bash\n", 0o755)
	write(t, server, "server v1", 0o755)
	return script, server, runs
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestImageKey(t *testing.T) {
	script, server, _ := fakeInputs(t)
	guest := filepath.Join(filepath.Dir(script), "vm")
	base, err := ImageKey(script, server)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ImageKey(script, server); again != base {
		t.Fatalf("ImageKey changed with nothing changed: %s then %s", base, again)
	}
	changes := []struct {
		name   string
		change func()
	}{
		{"server binary", func() { write(t, server, "server v2", 0o755) }},
		{"script", func() { write(t, script, "#!/bin/bash\nexit 1\n", 0o755) }},
		{"package list", func() { write(t, filepath.Join(guest, "packages"), "systemd\nbusybox-static\n", 0o644) }},
		{"guest file mode", func() { os.Chmod(filepath.Join(guest, "rootfs", "usr", "local", "sbin", "lab-guest"), 0o644) }},
		{"new guest file", func() { write(t, filepath.Join(guest, "rootfs", "etc", "hostname"), "x\n", 0o644) }},
	}
	seen := map[string]string{base: "start"}
	for _, c := range changes {
		c.change()
		key, err := ImageKey(script, server)
		if err != nil {
			t.Fatalf("ImageKey after changing the %s: %v", c.name, err)
		}
		if prev, ok := seen[key]; ok {
			t.Errorf("ImageKey after changing the %s = the key after %s", c.name, prev)
		}
		seen[key] = c.name
	}
	if _, err := ImageKey(script, filepath.Join(guest, "missing")); err == nil || !strings.Contains(err.Error(), "hash VM image input") {
		t.Errorf("ImageKey(missing server) error = %v, want one saying what it was doing", err)
	}
}

func TestEnsureImage(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found (try: apt-get install bash)")
	}
	script, server, runs := fakeInputs(t)
	cfg := ImageConfig{Script: script, Server: server, Dir: filepath.Join(t.TempDir(), "image")}
	ctx := context.Background()
	steps := []struct {
		name      string
		change    func()
		wantBuilt bool
	}{
		{"cold", func() {}, true},
		{"warm", func() {}, false},
		{"server changed", func() { write(t, server, "server v2", 0o755) }, true},
		{"warm again", func() {}, false},
		{"disk lost", func() { os.Remove(filepath.Join(cfg.Dir, "disk.img")) }, true},
	}
	for _, s := range steps {
		s.change()
		img, built, err := EnsureImage(ctx, cfg)
		if err != nil {
			t.Fatalf("%s: EnsureImage: %v", s.name, err)
		}
		if built != s.wantBuilt {
			t.Errorf("%s: EnsureImage built = %v, want %v", s.name, built, s.wantBuilt)
		}
		if want, _ := ImageKey(script, server); img.Key != want || !Cached(cfg.Dir, want) {
			t.Errorf("%s: image key %s, cached %v; want %s cached", s.name, img.Key, Cached(cfg.Dir, want), want)
		}
		if img.Disk != filepath.Join(cfg.Dir, "disk.img") {
			t.Errorf("%s: Disk = %s", s.name, img.Disk)
		}
	}
	b, _ := os.ReadFile(runs)
	if got := strings.Count(string(b), "run"); got != 3 {
		t.Errorf("script ran %d times, want 3", got)
	}
}

func TestEnsureImageFailure(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found (try: apt-get install bash)")
	}
	script, server, _ := fakeInputs(t)
	write(t, script, "#!/bin/bash\necho 'vm image: mmdebstrap failed; last lines:' >&2\nexit 1\n", 0o755)
	dir := filepath.Join(t.TempDir(), "image")
	_, built, err := EnsureImage(context.Background(), ImageConfig{Script: script, Server: server, Dir: dir})
	if err == nil || built || !strings.Contains(err.Error(), "mmdebstrap failed") || !strings.Contains(err.Error(), "build VM image") {
		t.Errorf("EnsureImage with a failing script = built %v, error %v; want an error with the script's stderr", built, err)
	}
	if Cached(dir, "") {
		t.Error("a failed build left a cached image")
	}
}

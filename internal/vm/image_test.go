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
// a lab-init binary. The script writes the two image files and appends a line
// to runs.
func fakeInputs(t *testing.T) (script, init, runs string) {
	t.Helper()
	dir := t.TempDir()
	script = filepath.Join(dir, "scripts", "vm-image.sh")
	runs = filepath.Join(dir, "runs")
	init = filepath.Join(dir, "lab-init")
	write(t, script, `#!/bin/bash
set -e
echo "vm image: fake build"
mkdir -p "$2"
for f in vmlinux initrd.img; do echo "$1" >"$2/$f"; done
echo run >>`+runs+"\n", 0o755)
	write(t, filepath.Join(dir, "scripts", "vm", "packages"), "systemd\n", 0o644)
	write(t, filepath.Join(dir, "scripts", "vm", "rootfs", "etc", "isolab", "modules"), "9p\n", 0o644)
	write(t, init, "lab-init v1", 0o755)
	return script, init, runs
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
	script, init, _ := fakeInputs(t)
	guest := filepath.Join(filepath.Dir(script), "vm")
	base, err := ImageKey(script, init)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ImageKey(script, init); again != base {
		t.Fatalf("ImageKey changed with nothing changed: %s then %s", base, again)
	}
	changes := []struct {
		name   string
		change func()
	}{
		{"lab-init binary", func() { write(t, init, "lab-init v2", 0o755) }},
		{"script", func() { write(t, script, "#!/bin/bash\nexit 1\n", 0o755) }},
		{"package list", func() { write(t, filepath.Join(guest, "packages"), "systemd\nbusybox-static\n", 0o644) }},
		{"guest file mode", func() { os.Chmod(filepath.Join(guest, "rootfs", "etc", "isolab", "modules"), 0o600) }},
		{"new guest file", func() { write(t, filepath.Join(guest, "rootfs", "etc", "hostname"), "x\n", 0o644) }},
	}
	seen := map[string]string{base: "start"}
	for _, c := range changes {
		c.change()
		key, err := ImageKey(script, init)
		if err != nil {
			t.Fatalf("ImageKey after changing the %s: %v", c.name, err)
		}
		if prev, ok := seen[key]; ok {
			t.Errorf("ImageKey after changing the %s = the key after %s", c.name, prev)
		}
		seen[key] = c.name
	}
	if _, err := ImageKey(script, filepath.Join(guest, "missing")); err == nil || !strings.Contains(err.Error(), "hash VM image input") {
		t.Errorf("ImageKey(missing lab-init) error = %v, want one saying what it was doing", err)
	}
}

func TestEnsureImage(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found (try: apt-get install bash)")
	}
	script, init, runs := fakeInputs(t)
	cfg := ImageConfig{Script: script, Init: init, Dir: filepath.Join(t.TempDir(), "image")}
	ctx := context.Background()
	steps := []struct {
		name      string
		change    func()
		wantBuilt bool
	}{
		{"cold", func() {}, true},
		{"warm", func() {}, false},
		{"lab-init changed", func() { write(t, init, "lab-init v2", 0o755) }, true},
		{"warm again", func() {}, false},
		{"initrd lost", func() { os.Remove(filepath.Join(cfg.Dir, "initrd.img")) }, true},
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
		if want, _ := ImageKey(script, init); img.Key != want || !Cached(cfg.Dir, want) {
			t.Errorf("%s: image key %s, cached %v; want %s cached", s.name, img.Key, Cached(cfg.Dir, want), want)
		}
		if img.Initrd != filepath.Join(cfg.Dir, "initrd.img") || img.Kernel != filepath.Join(cfg.Dir, "vmlinux") {
			t.Errorf("%s: Kernel, Initrd = %s, %s", s.name, img.Kernel, img.Initrd)
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
	script, init, _ := fakeInputs(t)
	write(t, script, "#!/bin/bash\necho 'vm image: mmdebstrap failed; last lines:' >&2\nexit 1\n", 0o755)
	dir := filepath.Join(t.TempDir(), "image")
	_, built, err := EnsureImage(context.Background(), ImageConfig{Script: script, Init: init, Dir: dir})
	if err == nil || built || !strings.Contains(err.Error(), "mmdebstrap failed") || !strings.Contains(err.Error(), "build VM image") {
		t.Errorf("EnsureImage with a failing script = built %v, error %v; want an error with the script's stderr", built, err)
	}
	if Cached(dir, "") {
		t.Error("a failed build left a cached image")
	}
}

// ShareBinary names a copy by its content: the same bytes land at the same
// path, executable; other bytes elsewhere.
func TestShareBinary(t *testing.T) {
	share, src := t.TempDir(), filepath.Join(t.TempDir(), "server")
	os.WriteFile(src, []byte("one"), 0o700)
	first, err := ShareBinary(share, src)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(first); err != nil || st.Mode().Perm() != 0o755 || filepath.Dir(first) != filepath.Join(share, "bin") {
		t.Errorf("ShareBinary = %s (%v, %v), want an 0755 file in %s/bin", first, st.Mode(), err, share)
	}
	if again, _ := ShareBinary(share, src); again != first {
		t.Errorf("ShareBinary of the same bytes = %s, then %s", first, again)
	}
	os.WriteFile(src, []byte("two"), 0o700)
	if other, _ := ShareBinary(share, src); other == first {
		t.Errorf("ShareBinary of other bytes = %s, the same path", other)
	}
}

//go:build unix

package infofile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReadFileVanished covers what List sees when an entry changes between the
// listing and the read: removed, or replaced by a symlink, FIFO or directory.
// Such an entry is no longer an info file and is left out without a word.
func TestReadFileVanished(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("127.0.0.1\n80\n/p\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink(good, filepath.Join(dir, "symlink"))
	os.Mkdir(filepath.Join(dir, "dir"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"missing", "symlink", "dir", "fifo"} {
		p := filepath.Join(dir, name)
		if info, skip, err := readFile(p); !skip || err != nil {
			t.Errorf("readFile(%s) = %+v, skip %v, %v; want skipped silently", name, info, skip, err)
		}
	}
	if info, skip, err := readFile(good); skip || err != nil || info.Port != 80 {
		t.Errorf("readFile(good) = %+v, skip %v, %v", info, skip, err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("x"), 0o644)
	if _, skip, err := readFile(bad); skip || err == nil {
		t.Errorf("readFile(bad) = skip %v, %v; want reported", skip, err)
	}
}

// TestRead: one file, read as List reads each; what is not a regular file is
// an info file that is not there (yet), never a read that blocks on a FIFO.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("127.0.0.1\n80\n/p\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if info, err := Read(good); err != nil || info.Port != 80 {
		t.Errorf("Read(good) = %+v, %v, want port 80", info, err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"missing", "fifo"} {
		if info, err := Read(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Read(%s) = %+v, %v, want fs.ErrNotExist", name, info, err)
		}
	}
	os.WriteFile(filepath.Join(dir, "bad"), []byte("x"), 0o644)
	if _, err := Read(filepath.Join(dir, "bad")); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(bad) = %v, want a parse error", err)
	}
}

func TestClear(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "b"), nil, 0o644)
	os.Mkdir(filepath.Join(dir, "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "inner"), nil, 0o644)
	if got := Clear(dir); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("Clear = %q, want [a b]", got)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("Clear left %d entries", len(left))
	}
	if got := Clear(filepath.Join(dir, "missing")); got != nil {
		t.Errorf("Clear(missing) = %q, want nil", got)
	}
}

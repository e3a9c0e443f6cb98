//go:build unix

package infofile

import (
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

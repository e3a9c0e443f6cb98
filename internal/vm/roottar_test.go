package vm

import (
	"archive/tar"
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A newc archive made by GNU cpio, as scripts/vm-image.sh makes the
// initramfs, becomes a tar with the same files, directories, symlinks and
// hard links, without /init and device nodes.
func TestCpioToTar(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not found (try: apt-get install cpio)")
	}
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(os.WriteFile(filepath.Join(root, "etc", "hostname"), []byte("guest\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "init"), []byte("lab-init"), 0o755))
	must(os.WriteFile(filepath.Join(root, "a"), []byte("linked"), 0o644))
	must(os.Link(filepath.Join(root, "a"), filepath.Join(root, "b")))
	must(os.Symlink("etc/hostname", filepath.Join(root, "link")))
	cmd := exec.Command("sh", "-c", "find . | LC_ALL=C sort | cpio --quiet -o -H newc --reproducible")
	cmd.Dir = root
	archive, err := cmd.Output()
	must(err)

	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	must(cpioToTar(bufio.NewReader(bytes.NewReader(archive)), tw))
	must(tw.Close())
	got := map[string]string{}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(err)
		b, _ := io.ReadAll(tr)
		switch h.Typeflag {
		case tar.TypeDir:
			got[h.Name] = "dir"
		case tar.TypeSymlink:
			got[h.Name] = "-> " + h.Linkname
		case tar.TypeLink:
			got[h.Name] = "link " + h.Linkname
		default:
			got[h.Name] = string(b)
		}
	}
	want := map[string]string{"etc": "dir", "etc/hostname": "guest\n", "link": "-> etc/hostname"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("tar entry %s = %q, want %q (all: %q)", k, got[k], v, got)
		}
	}
	if _, ok := got["init"]; ok {
		t.Errorf("tar has /init: %q", got)
	}
	// One of a and b has the data, the other links to it.
	if !(got["a"] == "linked" && got["b"] == "link a" || got["b"] == "linked" && got["a"] == "link b") {
		t.Errorf("hard links a, b = %q, %q; want the data once and a link", got["a"], got["b"])
	}
}

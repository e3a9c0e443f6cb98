package submission

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/isolab/isolab/internal/gobuild"
	"github.com/isolab/isolab/internal/sandbox"
	"github.com/isolab/isolab/internal/sandbox/sandboxtest"
)

var root, _ = gobuild.Root(".")

// needSandbox skips t without g++, make or root, and returns the sandbox
// helper, built once.
func needSandbox(t *testing.T) string {
	t.Helper()
	for _, n := range [][2]string{{compiler(), "g++"}, {"make", "make"}, {"ar", "binutils"}} {
		if _, err := exec.LookPath(n[0]); err != nil {
			t.Skipf("%s not found (try: apt-get install %s)", n[0], n[1])
		}
	}
	return sandboxtest.Helper(t)
}

func TestMain(m *testing.M) {
	code := m.Run()
	sandboxtest.Cleanup()
	os.Exit(code)
}

func testdata(name string) string { return filepath.Join(root, "conformance", "testdata", name) }

// packTar packs the files of dirs (later ones win) into a tarball, as a
// group hands in ex5.tar; gz compresses it.
func packTar(t *testing.T, gz bool, dirs ...string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string][]byte{}
	var order []string
	for _, d := range dirs {
		des, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range des {
			b, err := os.ReadFile(filepath.Join(d, de.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := seen[de.Name()]; !ok {
				order = append(order, de.Name())
			}
			seen[de.Name()] = b
		}
	}
	// A tarball also holds what the course asks and a path that climbs out.
	for name, body := range map[string]string{"ANSWERS.txt": "1. ...\n", "../escape": "x"} {
		order = append(order, name)
		seen[name] = []byte(body)
	}
	for _, name := range order {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o4755, Size: int64(len(seen[name])), Typeflag: tar.TypeReg})
		tw.Write(seen[name])
	}
	tw.WriteHeader(&tar.Header{Name: "link", Linkname: "/etc/passwd", Typeflag: tar.TypeSymlink})
	tw.Close()
	data := buf.Bytes()
	name := "ex5.tar"
	if gz {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(data)
		w.Close()
		data, name = z.Bytes(), "ex5.tar.gz"
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func checks(im *Impl) map[string]Check {
	m := map[string]Check{}
	for _, c := range im.Checks {
		m[c.Name] = c
	}
	return m
}

// A tarball with the course's Makefile builds with make, in the sandbox,
// and only what a submission is made of comes out of it.
func TestBuildTarball(t *testing.T) {
	h := needSandbox(t)
	for _, gz := range []bool{false, true} {
		tarball := packTar(t, gz, testdata("flawed-server"), testdata("course-makefile"))
		im, err := Build(context.Background(), Config{Root: root, Out: filepath.Join(t.TempDir(), "b"), Sandbox: h}, tarball)
		if err != nil {
			t.Fatal(err)
		}
		defer im.Close()
		if im.Name != "ex5" || im.From != "make" || im.Server == "" || im.Client == "" {
			t.Errorf("Build(%s) = %+v, want ex5 built with make, both adapters", filepath.Base(tarball), im)
		}
		for _, c := range im.Checks {
			if c.Failed {
				t.Errorf("%s: %s: %s", filepath.Base(tarball), c.Name, c.Detail)
			}
		}
		for _, bad := range []string{"link", "../escape"} {
			if _, err := os.Lstat(filepath.Join(im.Dir, bad)); err == nil {
				t.Errorf("the tarball's %s was extracted", bad)
			}
		}
		if st, err := os.Stat(filepath.Join(im.Dir, "server.cpp")); err != nil || st.Mode()&os.ModeSetuid != 0 {
			t.Errorf("server.cpp: %v, mode %v: want it there without setuid", err, st.Mode())
		}
		var st syscall.Stat_t
		if err := syscall.Stat(im.Server, &st); err != nil || int(st.Uid) != im.UID || im.UID < 1_000_000_000 {
			t.Errorf("server adapter owned by %d, the build's uid %d: want the sandbox's (it linked it)", st.Uid, im.UID)
		}
	}
}

// make failing, missing libraries and no Makefile in a tarball are named
// checks with make's output, and what can be built still is.
func TestBuildFailures(t *testing.T) {
	h := needSandbox(t)
	dir := t.TempDir()
	copyTree(testdata("flawed-client"), dir)
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("all:\n\t@echo compiling; false\n"), 0o644)
	im, err := Build(context.Background(), Config{Root: root, Out: filepath.Join(t.TempDir(), "b"), Sandbox: h}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	c := checks(im)
	if !c[CheckMake].Failed || !strings.Contains(c[CheckMake].Detail, "compiling") || !strings.Contains(c[CheckMake].Detail, "make failed") {
		t.Errorf("a failing make: %+v, want it failed with its output", c[CheckMake])
	}
	if im.Server == "" || im.Client == "" {
		t.Errorf("after a failing make the sources still build: %+v", im)
	}

	// Only the client's archive: the client adapter links, the server's
	// is reported.
	bare := packTar(t, false, testdata("flawed-server")) // no Makefile
	im2, err := Build(context.Background(), Config{Root: root, Out: filepath.Join(t.TempDir(), "b"), Sandbox: h}, bare)
	if err != nil {
		t.Fatal(err)
	}
	defer im2.Close()
	if c := checks(im2)[CheckMake]; !c.Failed || !strings.Contains(c.Detail, "no Makefile") {
		t.Errorf("a tarball without a Makefile: %+v, want it named", c)
	}
	if im2.From != "sources" || im2.Server == "" {
		t.Errorf("a tarball without a Makefile still builds from its sources: %+v", im2)
	}
}

// The hostile Makefile's writes outside its directory are kept from the
// system and reported; the build goes on.
func TestBuildHostileMakefile(t *testing.T) {
	h := needSandbox(t)
	marker := "/tmp/isolab-hostile-make"
	os.Remove(marker)
	im, err := Build(context.Background(), Config{Root: root, Out: filepath.Join(t.TempDir(), "b"), Sandbox: h}, testdata("hostile"))
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	c := checks(im)
	if c[CheckMake].Failed || im.Server == "" || im.Client == "" {
		t.Errorf("the hostile build: make %+v, %+v", c[CheckMake], im)
	}
	if s := c[CheckSandbox]; !s.Failed || !strings.Contains(s.Detail, "/tmp/isolab-hostile-make") || !strings.Contains(s.Detail, "/home/sandbox/isolab-hostile-make") {
		t.Errorf("%s = %+v, want the writes to /tmp and $HOME named", CheckSandbox, s)
	}
	for _, p := range []string{marker, "/var/tmp/isolab-hostile-make", "/root/isolab-hostile-make"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s reached the real system", p)
			os.Remove(p)
		}
	}
	if left := sandbox.Processes(im.UID); len(left) > 0 {
		t.Errorf("processes of the build's uid left: %v", left)
	}
}

// A build sees of the grader's machine only the system and its own
// workspace: another submission's sources beside it cannot be read, by a
// relative path or an absolute one, and a daemon its make left (setsid,
// out of the sandbox's process group) is killed and named in the build's
// sandbox row.
func TestBuildSeesOnlyItself(t *testing.T) {
	h := needSandbox(t)
	// Not under /tmp, where the sandbox's trap alone would hide it.
	work, err := os.MkdirTemp("/run", "isolab-build-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	os.Chmod(work, 0o755) // as readable as a checkout's lab directory
	other := filepath.Join(work, "impl", "other", "work", "src", "server.cpp")
	os.MkdirAll(filepath.Dir(other), 0o755)
	if err := os.WriteFile(other, []byte("// SECRET of another group\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.CopyFS(src, os.DirFS(testdata("flawed-client"))); err != nil {
		t.Fatal(err)
	}
	course, err := os.ReadFile(filepath.Join(testdata("course-makefile"), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	makefile := "all: steal\n" +
		"steal:\n" +
		"\t-cat ../../../other/work/src/server.cpp > stolen-relative.txt\n" +
		"\t-cat " + other + " > stolen-absolute.txt\n" +
		"\tsetsid sleep 900 < /dev/null > /dev/null 2>&1 &\n" +
		string(course)
	if err := os.WriteFile(filepath.Join(src, "Makefile"), []byte(makefile), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "impl", "mine")
	im, err := Build(context.Background(), Config{Root: root, Out: out, Sandbox: h, Hidden: []string{work, root}}, src)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	c := checks(im)
	if c[CheckMake].Failed || im.Server == "" || im.Client == "" {
		t.Errorf("the build: make %+v, %+v", c[CheckMake], im)
	}
	if s := c[CheckSandbox]; !s.Failed || !strings.Contains(s.Detail, "after the build: 1 processes of its uid still ran (pid ") ||
		!strings.Contains(s.Detail, ": sleep 900): killed") {
		t.Errorf("%s = %+v, want the daemon named, killed", CheckSandbox, s)
	}
	for _, f := range []string{"stolen-relative.txt", "stolen-absolute.txt"} {
		b, err := os.ReadFile(filepath.Join(im.Dir, f))
		if err != nil || len(b) != 0 {
			t.Errorf("%s: %q, %v; want it empty: the other's sources out of sight", f, b, err)
		}
	}
	if left := sandbox.Processes(im.UID); len(left) > 0 {
		t.Errorf("processes of the build's uid left: %v", left)
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{"/x/ex5.tar": "ex5", "g7.tar.gz": "g7", "a/b.tgz": "b", "/x/flawed-server/": "flawed-server"} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

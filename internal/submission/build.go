package submission

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/sandbox"
	"github.com/isolab/isolab/internal/shell"
)

// The checks of a build, by the names reports give them.
const (
	CheckMake    = "make builds libserver.a and libclient.a"
	CheckHeaders = "course headers present"
	CheckServer  = "server adapter links"
	CheckClient  = "client adapter links"
	CheckSandbox = "build keeps to its directory"
)

// Check is the outcome of one step of a build.
type Check struct {
	Name   string
	Failed bool
	Detail string
}

// Impl is an implementation built with the adapter mains.
type Impl struct {
	Name   string // the entry's name: its file or directory name, without .tar, .tar.gz or .tgz
	Dir    string // where its files are (extracted or copied)
	From   string // how its libraries came: make, archives or sources
	Server string // static binary with isolab's server command line; "" when it did not build
	Client string // the same for the client
	Mains  []string
	Checks []Check
	// UID is the uid its build ran as; 0 when not sandboxed (isolab's own).
	UID int

	unmount func()
}

// Untrusted says its code runs in the sandbox: it was built there.
func (im *Impl) Untrusted() bool { return im.UID != 0 }

// Close releases what the build holds (its workspace's tmpfs, which the
// binaries are on): call it when they are no longer run.
func (im *Impl) Close() {
	if im.unmount != nil {
		im.unmount()
		im.unmount = nil
	}
}

// Config says where and how to build.
type Config struct {
	Root string // the repository: conformance/cxx holds the adapters
	Out  string // the build's own directory, made if need be
	// Sandbox is cmd/isolab-sandbox: every command that runs the
	// submission's code or reads its files goes through it, as a fresh
	// uid, in a workspace of its own on a tmpfs of WorkspaceSize. "" runs
	// them as this process (isolab's own archives, or a trusted test).
	Sandbox string
	// Hidden are directories the sandboxed commands must not see (the
	// other submissions, the grader's checkout), but for the workspace.
	Hidden []string
}

// WorkspaceSize bounds the disk a submission's build and binaries take.
const WorkspaceSize = "512m"

// Name is the name of the entry at path: its base name without .tar,
// .tar.gz or .tgz.
func Name(path string) string {
	base := filepath.Base(filepath.Clean(path))
	for _, ext := range []string{".tar.gz", ".tgz", ".tar"} {
		if strings.HasSuffix(base, ext) {
			return strings.TrimSuffix(base, ext)
		}
	}
	return base
}

// Build builds the submission at path (a tarball or a directory). Its
// failures are Checks; an error means the harness itself could not go on
// (a tarball it cannot read, a workspace it cannot make).
func Build(ctx context.Context, cfg Config, path string) (*Impl, error) {
	b := &builder{cfg: cfg, ctx: ctx}
	im, err := b.build(path)
	if err != nil {
		im.Close()
		return nil, err
	}
	return im, nil
}

type builder struct {
	cfg  Config
	ctx  context.Context
	uid  int
	work string // the workspace: the only directory the submission may write
	n    int    // sandboxed commands run so far

	mu     sync.Mutex
	events []string
}

func (b *builder) build(path string) (*Impl, error) {
	im := &Impl{Name: Name(path)}
	st, err := os.Stat(path)
	if err != nil {
		return im, fmt.Errorf("submission %s: %w", path, err)
	}
	if err := b.workspace(im); err != nil {
		return im, err
	}
	src := filepath.Join(b.work, "src")
	tarball := !st.IsDir()
	if tarball {
		err = extract(path, src)
	} else {
		err = copyTree(path, src)
	}
	if err != nil {
		return im, fmt.Errorf("submission %s: %w", path, err)
	}
	im.Dir = topDir(src)
	if b.uid != 0 {
		if err := chownTree(b.work, b.uid); err != nil {
			return im, err
		}
	}
	if hasMakefile(im.Dir) {
		im.Checks = append(im.Checks, b.make(im.Dir))
		im.From = "make"
	} else if tarball {
		im.Checks = append(im.Checks, Check{CheckMake, true, "no Makefile: the course asks for one whose bare make builds libserver.a and libclient.a; going on with its sources"})
	}
	b.adapters(im)
	if b.cfg.Sandbox != "" {
		// What left the sandbox's process group (a daemon of make's, with
		// setsid) is found by the build's uid, which nothing else has.
		for _, e := range sandbox.Clean(b.cfg.Sandbox, b.uid) {
			b.events = append(b.events, "after the build: "+e)
		}
		c := Check{Name: CheckSandbox}
		if len(b.events) > 0 {
			c.Failed, c.Detail = true, strings.Join(b.events, "; ")
		}
		im.Checks = append(im.Checks, c)
	}
	return im, nil
}

// workspace makes the build's directory and, for a sandboxed build, its
// workspace on a tmpfs of its own, owned by a fresh uid.
func (b *builder) workspace(im *Impl) error {
	b.work = filepath.Join(b.cfg.Out, "work")
	if b.cfg.Sandbox == "" {
		os.RemoveAll(b.cfg.Out)
		return os.MkdirAll(b.work, 0o755)
	}
	sandbox.UnmountAll(b.work) // what a killed run left
	os.RemoveAll(b.cfg.Out)
	if err := os.MkdirAll(filepath.Join(b.cfg.Out, "reports"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return err
	}
	if err := sandbox.MountDisk("isolab-submission", b.work, WorkspaceSize); err != nil {
		return fmt.Errorf("the submission's workspace: %w", err)
	}
	im.unmount = func() { sandbox.UnmountAll(b.work) }
	b.uid = sandbox.NewUID()
	im.UID = b.uid
	return nil
}

// run runs argv in dir, in the sandbox when there is one, and returns its
// output (stdout and stderr); what the sandbox saw goes to b.events.
func (b *builder) run(dir string, argv ...string) (string, error) {
	if b.cfg.Sandbox == "" {
		return shell.Run(b.ctx, shell.Command{Argv: argv, Dir: dir, Combined: true})
	}
	b.mu.Lock()
	b.n++
	report := filepath.Join(b.cfg.Out, "reports", strconv.Itoa(b.n)+".json")
	b.mu.Unlock()
	p := sandbox.Policy{UID: b.uid, Writable: []string{b.work}, Hidden: b.cfg.Hidden, Dir: dir, Limits: sandbox.BuildLimits, Grace: 2 * time.Second, Report: report}
	out, err := shell.Run(b.ctx, shell.Command{Argv: p.Argv(b.cfg.Sandbox, argv), Combined: true})
	rep, rerr := sandbox.ReadReport(report)
	b.mu.Lock()
	defer b.mu.Unlock()
	if rerr != nil {
		b.events = append(b.events, fmt.Sprintf("%s: %v", argv[0], rerr))
	}
	for _, e := range rep.Events() {
		b.events = append(b.events, argv[0]+": "+e)
	}
	return out, err
}

// make runs a bare make, as the course does, and checks that it built the
// two archives.
func (b *builder) make(dir string) Check {
	c := Check{Name: CheckMake}
	out, err := b.run(dir, "make")
	var missing []string
	for _, lib := range []string{"libserver.a", "libclient.a"} {
		if _, serr := os.Stat(filepath.Join(dir, lib)); serr != nil {
			missing = append(missing, lib)
		}
	}
	switch {
	case err != nil:
		c.Failed, c.Detail = true, fmt.Sprintf("make failed (%s); it printed:\n%s", exitOf(err), shell.Tail(out, 15))
	case len(missing) > 0:
		c.Failed, c.Detail = true, fmt.Sprintf("make succeeded but did not build %s; it printed:\n%s", strings.Join(missing, " and "), shell.Tail(out, 15))
	}
	return c
}

// exitOf is how a command ended, in a few words.
func exitOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	return err.Error()
}

// adapters finds the headers and the archives (or compiles the sources into
// one) and links the two adapter mains against them; each step that fails
// is a Check, and a side that does not link stays "".
func (b *builder) adapters(im *Impl) {
	files, err := plainFiles(im.Dir)
	if err != nil {
		im.Checks = append(im.Checks, Check{CheckHeaders, true, err.Error()})
		return
	}
	var incs []string
	found := map[string]bool{}
	for _, f := range files {
		switch filepath.Ext(f) {
		case ".h", ".hpp", ".hh":
			found[filepath.Base(f)] = true
			if d := filepath.Dir(f); !slices.Contains(incs, d) {
				incs = append(incs, d)
			}
		}
	}
	var absent []string
	for _, h := range []string{"server.h", "client.h"} {
		if !found[h] {
			absent = append(absent, h)
		}
	}
	if len(absent) > 0 {
		im.Checks = append(im.Checks, Check{CheckHeaders, true, "no " + strings.Join(absent, " or ") + " (the course headers must be there)"})
		return
	}
	serverLibs, clientLibs := archives(files)
	if serverLibs == nil {
		if im.From == "" {
			im.From = "sources"
		}
		lib, mains, err := b.compile(files, incs)
		if err != nil {
			fail := Check{CheckServer, true, err.Error()}
			im.Checks = append(im.Checks, fail, Check{CheckClient, true, err.Error()})
			return
		}
		im.Mains = mains
		serverLibs, clientLibs = []string{lib}, []string{lib}
	} else if im.From == "" {
		im.From = "archives"
	}
	cc := compiler()
	var incFlags []string
	for _, d := range incs {
		incFlags = append(incFlags, "-I", d)
	}
	bin := filepath.Join(b.work, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil || b.chown(bin) != nil {
		im.Checks = append(im.Checks, Check{CheckServer, true, fmt.Sprint(err)})
		return
	}
	// The adapters are copied into the workspace: the sandbox hides /tmp,
	// /home and the like, where the repository may well be.
	adapters := filepath.Join(b.work, "adapters")
	if err := copyTree(filepath.Join(b.cfg.Root, "conformance", "cxx"), adapters); err != nil {
		im.Checks = append(im.Checks, Check{CheckServer, true, fmt.Sprint(err)}, Check{CheckClient, true, fmt.Sprint(err)})
		return
	}
	for _, a := range []struct {
		check, name, src string
		libs             []string
		out              *string
	}{
		{CheckServer, "server", "server_main.cpp", serverLibs, &im.Server},
		{CheckClient, "client", "client_main.cpp", clientLibs, &im.Client},
	} {
		exe := filepath.Join(bin, a.name)
		argv := append([]string{cc, "-static", "-O2", "-o", exe}, incFlags...)
		argv = append(argv, filepath.Join(adapters, a.src))
		argv = append(append(argv, a.libs...), "-lpthread")
		c := Check{Name: a.check}
		if out, err := b.run(bin, argv...); err != nil {
			c.Failed, c.Detail = true, fmt.Sprintf("%s (%s):\n%s", strings.Join(append([]string{"g++ ... " + a.src}, a.libs...), " "), exitOf(err), shell.Tail(out, 10))
		} else {
			*a.out = exe
		}
		im.Checks = append(im.Checks, c)
	}
}

func (b *builder) chown(path string) error {
	if b.uid == 0 {
		return nil
	}
	return os.Chown(path, b.uid, b.uid)
}

// compile compiles every C++ source file, leaves out the objects that
// define main (the implementation's own mains), and archives the rest as
// libimpl.a. One file at a time: every command of a build runs as the
// build's uid, and a sandbox that ends kills whatever else of its uid runs.
func (b *builder) compile(files, incs []string) (lib string, mains []string, err error) {
	var srcs []string
	for _, f := range files {
		switch filepath.Ext(f) {
		case ".cpp", ".cc", ".cxx", ".C":
			srcs = append(srcs, f)
		}
	}
	if len(srcs) == 0 {
		return "", nil, errors.New("no libserver.a and libclient.a, and no .cpp files to build them from")
	}
	obj := filepath.Join(b.work, "obj")
	if err := os.MkdirAll(obj, 0o755); err != nil || b.chown(obj) != nil {
		return "", nil, fmt.Errorf("make %s: %v", obj, err)
	}
	cc := compiler()
	objs := make([]string, len(srcs))
	for i, src := range srcs {
		objs[i] = filepath.Join(obj, fmt.Sprintf("%02d-%s.o", i, strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))))
		argv := []string{cc, "-c", "-O2"}
		for _, d := range incs {
			argv = append(argv, "-I", d)
		}
		if out, err := b.run(obj, append(argv, "-o", objs[i], src)...); err != nil {
			return "", nil, fmt.Errorf("compile %s (%s):\n%s", filepath.Base(src), exitOf(err), shell.Tail(out, 10))
		}
	}
	var keep []string
	for i, o := range objs {
		out, err := b.run(obj, "nm", "-g", "--defined-only", o)
		if err != nil {
			return "", nil, fmt.Errorf("nm %s: %v", filepath.Base(o), err)
		}
		if definesMain(out) {
			mains = append(mains, srcs[i])
			continue
		}
		keep = append(keep, o)
	}
	if len(keep) == 0 {
		return "", mains, errors.New("every .cpp file defines main: no library code")
	}
	lib = filepath.Join(obj, "libimpl.a")
	if out, err := b.run(obj, append([]string{"ar", "rcs", lib}, keep...)...); err != nil {
		return "", mains, fmt.Errorf("ar (%s): %s", exitOf(err), shell.Tail(out, 5))
	}
	return lib, mains, nil
}

// definesMain reads nm(1)'s list of an object's defined global symbols.
func definesMain(nm string) bool {
	sc := bufio.NewScanner(strings.NewReader(nm))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[2] == "main" && (f[1] == "T" || f[1] == "t") {
			return true
		}
	}
	return false
}

// compiler is the C++ compiler: $CXX, else g++.
func compiler() string {
	if c := os.Getenv("CXX"); c != "" {
		return c
	}
	return "g++"
}

// hasMakefile reports whether make would find a makefile in dir.
func hasMakefile(dir string) bool {
	for _, n := range []string{"GNUmakefile", "makefile", "Makefile"} {
		if st, err := os.Stat(filepath.Join(dir, n)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// topDir is where a submission's files start: dir, or the one directory in
// it when that is all it holds (a tarball of ex5/, not of its content).
func topDir(dir string) string {
	des, err := os.ReadDir(dir)
	if err == nil && len(des) == 1 && des[0].IsDir() {
		return filepath.Join(dir, des[0].Name())
	}
	return dir
}

// plainFiles lists the regular files below dir, leaving out hidden
// directories.
func plainFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the implementation: %w", err)
	}
	return files, nil
}

// archives returns the implementation's libserver.a and libclient.a, or nils
// when it does not hold both.
func archives(files []string) (server, client []string) {
	for _, f := range files {
		switch filepath.Base(f) {
		case "libserver.a":
			server = append(server, f)
		case "libclient.a":
			client = append(client, f)
		}
	}
	if len(server) != 1 || len(client) != 1 {
		return nil, nil
	}
	return server, client
}

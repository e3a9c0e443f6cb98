//go:build mage

// The isolab lab: build the static server and client, stand servers up on the
// host, in containers and in a VM, and check what the client on the host sees.
// Run `go tool mage -l` for the targets; the logic lives in internal/lab.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/magefile/mage/mg"

	"github.com/isolab/isolab/internal/conformance"
	"github.com/isolab/isolab/internal/deps"
	"github.com/isolab/isolab/internal/grading"
	"github.com/isolab/isolab/internal/lab"
	"github.com/isolab/isolab/internal/matrix"
	"github.com/isolab/isolab/internal/submission"
)

// Environment variables a user can set; each is read by the package named.
const (
	_ = "LAB_DIR"             // internal/lab: the lab's working directory (default: ./lab)
	_ = "LAB_SCENARIO"        // internal/lab: a scenario file instead of the embedded default
	_ = "LAB_ENGINE"          // internal/lab: docker or podman (default: Docker when docker.io is installed, else Podman)
	_ = "LAB_APPTAINER_FLAGS" // internal/lab: extra apptainer flags
	_ = "LAB_ACCEL"           // internal/vm: auto, kvm or tcg (auto: KVM only with vmx/svm and a usable /dev/kvm)
	_ = "LAB_VM_DEBUG"        // internal/vm: 1 boots guests with a root shell on their console
	_ = "LAB_VM_BOOTS"        // internal/vm: how many guests boot at once on this machine (default: its cores)
	_ = "LAB_VM_STALL"        // internal/vm: seconds a booting guest's console may stay silent before it counts as hung (default 60)
	_ = "LAB_DEBIAN_MIRROR"   // scripts/vm-image.sh: Debian mirror for the VM image
	_ = "LAB_MATRIX_DOCS"     // internal/matrix: 1 makes lab:matrix also write docs/matrix.json and the table in docs/ANSWERS.md
	_ = "LAB_CLIENT_FLAGS"    // internal/lab: flags of the client lab:client runs, e.g. -explain or -json
	_ = "ISOLAB_JUNIT"        // magefile: conformance:run and conformance:cross also write JUnit XML to this file
)

// Default runs lab:verify.
var Default = Lab.Verify

// interruptible takes Ctrl-C (SIGINT) over from mage for a target that must
// tear down what it started: mage gives a target 5 s after one and then
// exits, which would leave a lab half up whenever a guest's power-off or
// dockerd's stop takes longer, as it does on a busy machine. The first
// Ctrl-C cancels the returned context and the target tears down, however
// long that takes; a second one exits at once (lab:down reaps the rest).
func interruptible(ctx context.Context) (context.Context, func()) {
	signal.Reset(syscall.SIGINT) // mage's own handler
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		if _, ok := <-ch; !ok {
			return
		}
		fmt.Fprintln(os.Stderr, "interrupted: tearing down what was started (Ctrl-C again quits at once; then run go tool mage lab:down)")
		cancel()
		if _, ok := <-ch; ok {
			os.Exit(130)
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(ch)
		cancel()
	}
}

// An ordinary user's copy of Apptainer (deps) is under lab/: every target
// and what it starts finds it on PATH.
func init() { deps.UseLabApptainer() }

// withLab runs f on the lab of this repository (LAB_DIR, else ./lab).
func withLab(f func(*lab.Lab) error) error {
	l, err := lab.New(lab.Config{Verbose: mg.Verbose()})
	if err != nil {
		return err
	}
	return f(l)
}

// Deps installs the Debian packages the lab needs (as root on Debian/Ubuntu), else prints the apt-get line; then Apptainer, from ../shared/apptainer where there is one.
func Deps(ctx context.Context) error {
	return deps.Install(ctx, os.Stdout, mg.Verbose())
}

// Build namespace: the static binaries.
type Build mg.Namespace

// Binaries builds the static server and client into bin/.
func (Build) Binaries(ctx context.Context) error {
	return withLab(func(l *lab.Lab) error { return l.Build(ctx) })
}

// Clib builds the course's libserver.a, libclient.a and headers into bin/clib.
func (Build) Clib(ctx context.Context) error {
	return submission.BuildCLib(ctx, ".", filepath.Join("bin", "clib"))
}

// Conformance namespace: test any implementation of the exercise against isolab.
type Conformance mg.Namespace

// Run builds the implementation at PATH (ex5.tar, a directory with a Makefile, its .cpp files, or its two .a files) in the sandbox and runs it crossed with isolab.
func (Conformance) Run(ctx context.Context, path string) error {
	mg.CtxDeps(ctx, Deps)
	ctx, done := interruptible(ctx)
	defer done()
	return report(conformance.Run(ctx, conformanceOptions(path)))
}

// Cross runs every implementation in DIR (one tarball or directory per entry) against every other and isolab's, and prints who classifies whom right.
func (Conformance) Cross(ctx context.Context, dir string) error {
	mg.CtxDeps(ctx, Deps)
	ctx, done := interruptible(ctx)
	defer done()
	return report(conformance.Cross(ctx, conformanceOptions(dir), dir))
}

func conformanceOptions(impl string) conformance.Options {
	return conformance.Options{
		Root:    ".",
		Impl:    impl,
		WorkDir: filepath.Join("lab", "conformance"),
		Logf:    func(format string, args ...any) { fmt.Printf(format+"\n", args...) },
	}
}

// report prints a conformance table and its cross tables, writes its
// Markdown summary and, with ISOLAB_JUNIT, its JUnit XML.
func report(t *conformance.Table, err error) error {
	if t == nil {
		return err
	}
	if perr := grading.Report(os.Stdout, t, filepath.Join("lab", "conformance", "summary.md"), os.Getenv("ISOLAB_JUNIT")); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	return t.Err()
}

// VM namespace: the guest image.
type VM mg.Namespace

// Image builds the VM image from Debian's packages unless it is cached for this tree's recipe.
func (VM) Image(ctx context.Context) error {
	mg.CtxDeps(ctx, Deps)
	ctx, done := interruptible(ctx)
	defer done()
	return withLab(func(l *lab.Lab) error { return l.VMImage(ctx) })
}

// Bench boots one guest, then as many as the conformance VM column boots at once, and prints each phase; the last line is the ready/init ratio.
func (VM) Bench(ctx context.Context) error {
	mg.CtxDeps(ctx, Deps)
	ctx, done := interruptible(ctx)
	defer done()
	return withLab(func(l *lab.Lab) error { return l.VMBench(ctx) })
}

// Lab namespace: the verbs users know.
type Lab mg.Namespace

// Up builds what is missing, makes the lab's network namespace (and a dockerd in it), starts every server of the scenario there and waits for their info files.
func (Lab) Up(ctx context.Context) error {
	mg.CtxDeps(ctx, Deps)
	ctx, done := interruptible(ctx)
	defer done()
	return withLab(func(l *lab.Lab) error {
		_, err := l.Up(ctx)
		return err
	})
}

// Status shows the lab's network namespace, its dockerd and each server: environment, state, pid or container, address, info file.
func (Lab) Status(ctx context.Context) error {
	return withLab(func(l *lab.Lab) error { return l.Status(ctx) })
}

// Down stops every server and the dockerd, deletes the namespace and reaps whatever an interrupted run left; safe to repeat.
func (Lab) Down(ctx context.Context) error {
	return withLab(func(l *lab.Lab) error { return l.Down(ctx) })
}

// Verify is up, client, diff and down in one: the main job; it fails on a wrong report, a server that did not exit 0, or a leak.
func (Lab) Verify(ctx context.Context) error {
	mg.CtxDeps(ctx, Deps)
	ctx, done := interruptible(ctx)
	defer done()
	return withLab(func(l *lab.Lab) error { return l.Verify(ctx) })
}

// Client runs the host's client on the lab that is up, in its namespace; LAB_CLIENT_FLAGS passes it flags (-explain, -json).
func (Lab) Client(ctx context.Context) error {
	return withLab(func(l *lab.Lab) error { return l.Client(ctx) })
}

// Shell opens a shell in the lab's network namespace, with DOCKER_HOST set to its dockerd.
func (Lab) Shell(ctx context.Context) error {
	return withLab(func(l *lab.Lab) error { return l.Shell(ctx) })
}

// Matrix runs one server in each isolation variant, prints what the host's client saw of each, and writes the table.
func (Lab) Matrix(ctx context.Context) error {
	mg.CtxDeps(ctx, Deps)
	ctx, done := interruptible(ctx)
	defer done()
	return matrix.Run(ctx, lab.Config{Verbose: mg.Verbose()})
}

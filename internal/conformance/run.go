package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/gobuild"
	"github.com/isolab/isolab/internal/labnet"
	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/submission"
)

// Options configures Run.
type Options struct {
	Root    string // repository root: clib/, conformance/cxx and cmd/ live there
	Impl    string // the implementation to check: a tarball or a directory (internal/submission)
	WorkDir string // builds, logs and trial files; "" means a temporary directory removed afterwards
	// Envs are the environments to run servers in; nil means DefaultEnvs.
	Envs []runenv.Kind

	// OurServer and OurClient are isolab's static binaries; "" means build them
	// from Root.
	OurServer, OurClient string
	// Built is the implementation already built (submission.Build); nil
	// means build Impl.
	Built *submission.Impl
	// Net is the run's network (internal/labnet); nil means Run makes one of
	// its own, named after WorkDir, and takes it down at the end.
	Net *labnet.Net
	// VMImage is the guests' image; nil means the lab's cached one
	// (LAB_DIR/vm/image), built first when its recipe changed.
	VMImage *runenv.VMImage

	// Logf prints one progress line per step; nil prints nothing.
	Logf func(format string, args ...any)
}

// Timing of the trials. None bounds a wait for something that still makes
// progress: servers are waited for with runenv.WaitInfo.
const (
	cellDeadline = 20 * time.Second // a client finishes a cell (one slow socket costs it 5 s)
	connectBound = 5 * time.Second  // the spec's bound on a connect
	connectSlack = 3 * time.Second  // what a client may add to it before it counts as unbounded
	lateDelay    = 1 * time.Second  // how late the late client attaches, after it is done with the socket
	eofWithin    = 1 * time.Second  // how soon after its message a server must close
	exitAfter    = 3 * time.Second  // servers exit on their own after the client is done
	exitDrained  = 15 * time.Second // ... or after the harness took their message (isolab's grace is 10 s)
	// acceptTimeout is how long a trial's servers wait for their client:
	// far longer than a trial runs, as the harness stops each server
	// itself. A trial starts its servers one after another, and a guest
	// waits its turn in the machine's boot queue, behind other trials'
	// guests: on a busy machine the first server of a cell waited more
	// than 60 s (the value this had) for the second, gave up, removed its
	// info file, and the client counted one server short.
	acceptTimeout = "15m"
)

// side is one implementation of both programs: isolab's, or another.
type side struct {
	name      string // "isolab", "theirs", or a submission's name
	server    string // static binary with isolab's server command line; "" when it did not build
	client    string // the same for the client
	untrusted bool   // not isolab's: its code runs in the sandbox
}

// runner is one Run.
type runner struct {
	opts      Options
	work      string
	logs      string
	sides     []side // isolab's first
	logf      func(format string, args ...any)
	net       *labnet.Net
	label     string
	vmImage   runenv.VMImage
	engineLog io.Writer
	helper    string // cmd/isolab-sandbox
	init      string // cmd/lab-init, for the VM image

	mu       sync.Mutex
	keys     map[shm.Key]bool
	ports    map[int]bool // handed out (port)
	nextPort int          // where port looks next
	projID   int
}

// Run builds the implementation in opts.Impl with the adapters (its code in
// the sandbox), then, in each environment, runs the cross matrix of its
// server and client with isolab's, and the probes, and returns the table of
// checks. An error means the harness could not run; failed checks, a failed
// build's among them, are in the table (Table.Err).
func Run(ctx context.Context, opts Options) (*Table, error) {
	t := &Table{Impl: opts.Impl}
	r, cleanup, err := newRunner(ctx, &opts, t)
	defer cleanup()
	if err != nil {
		return t, err
	}
	im := opts.Built
	if im == nil {
		if im, err = r.build(ctx, opts.Impl); err != nil {
			return t, err
		}
		defer im.Close()
	}
	t.Impl, t.From = im.Dir, im.From
	r.addSide(t, "theirs", im)
	return t, r.runEnvs(ctx, t)
}

// Cross runs the cross matrix of every implementation in dir (each entry a
// tarball or a directory, as a grader or a group collects them) and
// isolab's: every server against every client, in each environment, with
// the probes of each; rows name each implementation by its entry's name.
func Cross(ctx context.Context, opts Options, dir string) (*Table, error) {
	t := &Table{Impl: dir}
	r, cleanup, err := newRunner(ctx, &opts, t)
	defer cleanup()
	if err != nil {
		return t, err
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return t, err
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		im, err := r.build(ctx, filepath.Join(dir, de.Name()))
		if err != nil {
			return t, err
		}
		defer im.Close()
		r.addSide(t, im.Name, im)
	}
	return t, r.runEnvs(ctx, t)
}

// build builds one implementation in the run's directory, in the sandbox.
// hidden is what the sandboxed code of a submission must not see: the
// run's work directory (every submission's sources and binaries, every
// trial's files) and the repository (the grader's checkout, the
// reference implementation). The sandbox binds back what a step needs.
func (r *runner) hidden() []string { return []string{r.work, r.opts.Root} }

func (r *runner) build(ctx context.Context, path string) (im *submission.Impl, err error) {
	err = step(r.logf, "built "+path, func() error {
		im, err = submission.Build(ctx, submission.Config{Root: r.opts.Root, Out: filepath.Join(r.work, "impl", submission.Name(path)), Sandbox: r.helper, Hidden: r.hidden()}, path)
		return err
	})
	return im, err
}

// addSide adds im to the run as name, and its build's checks to t.
func (r *runner) addSide(t *Table, name string, im *submission.Impl) {
	for _, c := range im.Checks {
		o := Pass
		if c.Failed {
			o = Fail
		}
		t.Rows = append(t.Rows, Row{Env: "build", Server: name, Client: name, Check: c.Name, Outcome: o, Detail: c.Detail})
	}
	if len(im.Mains) > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("%s: left out %d file(s) that define main: %v", name, len(im.Mains), im.Mains))
	}
	r.sides = append(r.sides, side{name: name, server: im.Server, client: im.Client, untrusted: im.Untrusted()})
}

// newRunner prepares a run: its directories, isolab's binaries, the VM
// image and the run's network. cleanup takes down what it made.
func newRunner(ctx context.Context, opts *Options, t *Table) (r *runner, cleanup func(), err error) {
	var undo []func()
	cleanup = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := absPaths(&opts.Root, &opts.Impl, &opts.WorkDir, &opts.OurServer, &opts.OurClient); err != nil {
		return nil, cleanup, err
	}
	work := opts.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "isolab-conformance-"); err != nil {
			return nil, cleanup, err
		}
		undo = append(undo, func() { os.RemoveAll(work) })
	}
	sum := sha256.Sum256([]byte(work))
	r = &runner{opts: *opts, work: work, logs: filepath.Join(work, "logs"), logf: logf, label: "c" + hex.EncodeToString(sum[:4]),
		keys: map[shm.Key]bool{}, ports: map[int]bool{}}
	os.RemoveAll(r.logs) // the logs of an earlier run in the same WorkDir
	if err := os.MkdirAll(r.logs, 0o755); err != nil {
		return r, cleanup, err
	}
	log, err := os.OpenFile(filepath.Join(r.logs, "engine.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return r, cleanup, err
	}
	undo = append(undo, func() { log.Close() })
	r.engineLog = log
	ours := side{name: "isolab", server: opts.OurServer, client: opts.OurClient}
	err = step(logf, "built isolab's server, client, sandbox and lab-init", func() error {
		bins, err := gobuild.Static(ctx, opts.Root, filepath.Join(work, "isolab"), gobuild.Server, gobuild.Client, gobuild.Sandbox, gobuild.Init)
		if err != nil {
			return err
		}
		if ours.server == "" || ours.client == "" {
			ours.server, ours.client = bins[0], bins[1]
		}
		r.helper, r.init = bins[2], bins[3]
		return nil
	})
	if err != nil {
		return r, cleanup, err
	}
	r.sides = []side{ours}
	if opts.Envs == nil {
		var notes []string
		opts.Envs, notes = DefaultEnvs()
		t.Notes = append(t.Notes, notes...)
	}
	r.opts.Envs = opts.Envs
	// The guests boot the VM image, and a submission's containers run on
	// its root file system (images/Dockerfile.submission).
	containers := slices.Contains(opts.Envs, runenv.Docker) || slices.Contains(opts.Envs, runenv.Podman) || slices.Contains(opts.Envs, runenv.Apptainer)
	if slices.Contains(opts.Envs, runenv.VM) || containers {
		if err := r.findVMImage(ctx); err != nil {
			if slices.Contains(opts.Envs, runenv.VM) {
				t.Notes = append(t.Notes, fmt.Sprintf("vm not run: %v", err))
			}
			if containers {
				t.Notes = append(t.Notes, fmt.Sprintf("submissions' servers ran in containers of their binary alone, without the Debian system a guest has: %v", err))
			}
			r.opts.Envs = slices.DeleteFunc(slices.Clone(r.opts.Envs), func(k runenv.Kind) bool { return k == runenv.VM })
		}
	}
	r.net = opts.Net
	if r.net == nil {
		cfg := labnet.Config{Name: "isolab-" + r.label, DataRoot: filepath.Join(work, "dockerd"), Log: filepath.Join(r.logs, "dockerd.log")}
		if r.net, err = labnet.Up(ctx, cfg, slices.Contains(r.opts.Envs, runenv.Docker), logf); err != nil {
			return r, cleanup, fmt.Errorf("the run's network namespace: %w", err)
		}
		undo = append(undo, func() {
			if leaks, err := labnet.Down(context.WithoutCancel(ctx), cfg); len(leaks) > 0 || err != nil {
				t.Notes = append(t.Notes, fmt.Sprintf("the run's network left %v (%v)", leaks, err))
			}
		})
	}
	return r, cleanup, nil
}

// DefaultEnvs is the host, plus the containers of the engine that is
// installed (LAB_ENGINE, else Docker, else Podman), plus Apptainer's when
// it is installed, plus the VM when QEMU is; for each that is left out, a
// note says why.
func DefaultEnvs() ([]runenv.Kind, []string) {
	envs := []runenv.Kind{runenv.Host}
	var notes []string
	if oci, err := runenv.ContainerEngine(os.Getenv("LAB_ENGINE")); err != nil {
		notes = append(notes, fmt.Sprintf("container not run: %v", err))
	} else {
		envs = append(envs, oci)
	}
	if err := runenv.Installed(runenv.Apptainer); err != nil {
		notes = append(notes, fmt.Sprintf("apptainer not run: %v", err))
	} else {
		envs = append(envs, runenv.Apptainer)
	}
	if err := runenv.Installed(runenv.VM); err != nil {
		notes = append(notes, fmt.Sprintf("vm not run: %v", err))
	} else {
		envs = append(envs, runenv.VM)
	}
	return envs, notes
}

// findVMImage is Options.VMImage, else the lab's cached guest image in
// LAB_DIR/vm/image (LAB_DIR defaults to Root/lab), built first when this
// tree's recipe changed (go tool mage vm:image does the same).
func (r *runner) findVMImage(ctx context.Context) error {
	if r.opts.VMImage != nil {
		r.vmImage = *r.opts.VMImage
		return nil
	}
	dir := os.Getenv("LAB_DIR")
	if dir == "" {
		dir = filepath.Join(r.opts.Root, "lab")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	return step(r.logf, "vm image", func() (err error) {
		r.vmImage, _, err = runenv.EnsureVMImage(ctx, r.opts.Root, r.init, filepath.Join(dir, "vm", "image"), io.Discard)
		return err
	})
}

// runEnvs runs every environment and records the keys the run used.
func (r *runner) runEnvs(ctx context.Context, t *Table) error {
	for _, s := range r.sides {
		t.Sides = append(t.Sides, s.name)
	}
	for _, kind := range r.opts.Envs {
		rows, err := r.runEnv(ctx, kind)
		if errors.Is(err, ErrUnavailable) {
			t.Notes = append(t.Notes, fmt.Sprintf("%s not run: %s", kind, strings.TrimPrefix(err.Error(), ErrUnavailable.Error()+": ")))
			continue
		}
		t.Rows = append(t.Rows, rows...)
		if err != nil {
			return err
		}
	}
	for k := range r.keys {
		t.keys = append(t.keys, k)
	}
	return ctx.Err()
}

// runEnv runs every trial of one environment at once: a cell for each
// server side with each client side, and the probes of each side.
func (r *runner) runEnv(ctx context.Context, kind runenv.Kind) ([]Row, error) {
	sess, err := r.openSession(kind)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	e := &envRun{runner: r, env: string(kind), sess: sess}
	var trials []func(context.Context) []Row
	for _, c := range r.sides {
		for _, s := range r.sides {
			trials = append(trials, func(ctx context.Context) []Row { return e.cell(ctx, s, c) })
		}
	}
	for _, s := range r.sides {
		trials = append(trials, func(ctx context.Context) []Row { return e.lateProbe(ctx, s) })
	}
	for _, s := range r.sides {
		trials = append(trials, func(ctx context.Context) []Row { return e.staleProbe(ctx, s) })
	}
	for _, c := range r.sides {
		trials = append(trials, func(ctx context.Context) []Row { return e.hangProbe(ctx, c) })
	}
	slots := make([][]Row, len(trials))
	start := time.Now()
	var wg sync.WaitGroup
	for i, f := range trials {
		wg.Go(func() { slots[i] = f(ctx) })
	}
	wg.Wait()
	r.logf("%s: ran %d trials (%s); slowest server ready after %s (%s)", e.env, len(trials), time.Since(start).Round(10*time.Millisecond),
		e.slowest.Round(10*time.Millisecond), e.slowestWho)
	var rows []Row
	for _, s := range slots {
		rows = append(rows, s...)
	}
	return rows, nil
}

// absPaths makes every non-empty path absolute: the servers and clients run
// elsewhere and the info files carry the ftok pathnames.
func absPaths(paths ...*string) error {
	for _, p := range paths {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	return nil
}

// step runs f and prints one line with its duration.
func step(logf func(string, ...any), what string, f func() error) error {
	start := time.Now()
	if err := f(); err != nil {
		return err
	}
	logf("%s (%s)", what, time.Since(start).Round(10*time.Millisecond))
	return nil
}

package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/engine"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/vm"
)

// Options configures Run.
type Options struct {
	Root    string // repository root: clib/, conformance/cxx and cmd/ live there
	Impl    string // directory of the implementation to check (see BuildImpl)
	WorkDir string // builds, logs and scenario files; "" means a temporary directory removed afterwards
	Envs    []Env  // environments to run servers in; nil means defaultEnvs

	// OurServer and OurClient are isolab's static binaries; "" means build them
	// from Root with BuildOurs.
	OurServer, OurClient string
	// Built is the implementation already built with BuildImpl; nil means
	// build Impl.
	Built *Impl

	// Logf prints one progress line per step; nil prints nothing.
	Logf func(format string, args ...any)
}

// Timing of the scenarios.
const (
	readyTimeout  = 10 * time.Second // a server writes its info file
	cellDeadline  = 20 * time.Second // a client finishes a cell (one slow socket costs it 5 s)
	connectBound  = 5 * time.Second  // the spec's bound on a connect
	connectSlack  = 3 * time.Second  // what a client may add to it before it counts as unbounded
	lateDelay     = 1 * time.Second  // how late the late client attaches, after it is done with the socket
	eofWithin     = 1 * time.Second  // how soon after its message a server must close
	exitAfter     = 3 * time.Second  // servers exit on their own after the client is done
	exitDrained   = 15 * time.Second // ... or after the harness took their message (isolab's grace is 10 s)
	acceptTimeout = "60s"            // isolab's servers give up on a client after this
)

// side is one implementation of both programs: isolab's, or theirs.
type side struct {
	name     string // "isolab" or "theirs"
	server   string // static binary with isolab's server command line
	client   string // static binary with isolab's client command line
	confined bool   // the server listens only on the -ip address
}

// runner is one Run.
type runner struct {
	opts   Options
	logs   string
	sides  [2]side // isolab, theirs
	logf   func(format string, args ...any)
	mu     sync.Mutex
	keys   map[shm.Key]bool
	ports  map[int]bool
	projID int
}

// Run builds the implementation in opts.Impl with the adapters, then, in each
// environment, runs the cross matrix and the probes and returns the table of
// checks. An error means the harness could not run (a build failed); failed
// checks are in the table (Table.Err).
func Run(ctx context.Context, opts Options) (*Table, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	t := &Table{Impl: opts.Impl}
	if err := absPaths(&opts.Root, &opts.Impl, &opts.WorkDir, &opts.OurServer, &opts.OurClient); err != nil {
		return t, err
	}
	work := opts.WorkDir
	if work == "" {
		tmp, err := os.MkdirTemp("", "isolab-conformance-")
		if err != nil {
			return t, err
		}
		defer os.RemoveAll(tmp)
		work = tmp
	}
	r := &runner{opts: opts, logf: logf, logs: filepath.Join(work, "logs"), keys: map[shm.Key]bool{}, ports: map[int]bool{}}
	os.RemoveAll(r.logs) // the logs of an earlier run in the same WorkDir
	if err := os.MkdirAll(r.logs, 0o755); err != nil {
		return t, err
	}
	ours := side{name: "isolab", server: opts.OurServer, client: opts.OurClient, confined: true}
	if ours.server == "" || ours.client == "" {
		err := step(logf, "built isolab's server and client", func() (err error) {
			ours.server, ours.client, err = BuildOurs(ctx, opts.Root, filepath.Join(work, "isolab"))
			return err
		})
		if err != nil {
			return t, err
		}
	}
	var impl Impl
	if opts.Built != nil {
		impl = *opts.Built
		t.Impl = impl.Dir
	} else {
		err := step(logf, "built the adapters against "+opts.Impl, func() (err error) {
			impl, err = BuildImpl(ctx, opts.Root, opts.Impl, filepath.Join(work, "theirs"))
			return err
		})
		if err != nil {
			return t, err
		}
	}
	t.From = impl.From
	if len(impl.Mains) > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("left out %d file(s) that define main: %v", len(impl.Mains), impl.Mains))
	}
	r.sides = [2]side{ours, {name: "theirs", server: impl.Server, client: impl.Client}}

	envs := opts.Envs
	if envs == nil {
		var notes []string
		envs, notes = defaultEnvs(ctx, opts.Root)
		t.Notes = append(t.Notes, notes...)
	}
	for _, env := range envs {
		rows, err := r.runEnv(ctx, env, work)
		if errors.Is(err, ErrUnavailable) {
			t.Notes = append(t.Notes, fmt.Sprintf("%s not run: %s", env.Name(), strings.TrimPrefix(err.Error(), ErrUnavailable.Error()+": ")))
			continue
		}
		t.Rows = append(t.Rows, rows...)
		if err != nil {
			return t, err
		}
	}
	for k := range r.keys {
		t.keys = append(t.keys, k)
	}
	return t, ctx.Err()
}

// defaultEnvs is the host, plus the containers of the engine that answers
// (engine.Detect), plus the VM when QEMU is installed and the lab's image is
// cached for its current server binary (see labVMImage); for each that is
// left out, a note says why.
func defaultEnvs(ctx context.Context, root string) ([]Env, []string) {
	envs := []Env{HostEnv{}}
	var notes []string
	if eng, err := engine.Detect(ctx); err != nil {
		notes = append(notes, fmt.Sprintf("container not run: %v", err))
	} else {
		envs = append(envs, ContainerEnv{Engine: eng, Dockerfile: filepath.Join(root, "images", "Dockerfile")})
	}
	if img, err := labVMImage(root); err != nil {
		notes = append(notes, fmt.Sprintf("vm not run: %v", err))
	} else {
		envs = append(envs, VMEnv{Image: img})
	}
	return envs, notes
}

// labVMImage finds the lab's cached guest image where internal/lab keeps it,
// LAB_DIR/vm/image (LAB_DIR defaults to Root/lab), built with the lab's
// lab-init, Root/bin/lab-init (go tool mage vm:image builds both).
func labVMImage(root string) (vm.Image, error) {
	dir := os.Getenv("LAB_DIR")
	if dir == "" {
		dir = filepath.Join(root, "lab")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return vm.Image{}, err
	}
	return VMImage(root, filepath.Join(dir, "vm", "image"), filepath.Join(root, "bin", "lab-init"))
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

// runEnv runs every scenario of one environment at once.
func (r *runner) runEnv(ctx context.Context, env Env, work string) ([]Row, error) {
	sess, err := env.Open(ctx, work, r.logf)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	e := &envRun{runner: r, env: env.Name(), sess: sess}
	e.shmOK, e.sockOK = sess.Reach()
	ours, theirs := r.sides[0], r.sides[1]
	scenarios := []func(context.Context) []Row{
		func(ctx context.Context) []Row { return e.cell(ctx, ours, ours) },
		func(ctx context.Context) []Row { return e.cell(ctx, theirs, ours) },
		func(ctx context.Context) []Row { return e.cell(ctx, ours, theirs) },
		func(ctx context.Context) []Row { return e.cell(ctx, theirs, theirs) },
		func(ctx context.Context) []Row { return e.lateProbe(ctx, ours) },
		func(ctx context.Context) []Row { return e.lateProbe(ctx, theirs) },
		func(ctx context.Context) []Row { return e.staleProbe(ctx, ours) },
		func(ctx context.Context) []Row { return e.staleProbe(ctx, theirs) },
		func(ctx context.Context) []Row { return e.hangProbe(ctx, ours) },
		func(ctx context.Context) []Row { return e.hangProbe(ctx, theirs) },
	}
	slots := make([][]Row, len(scenarios))
	start := time.Now()
	var wg sync.WaitGroup
	for i, f := range scenarios {
		wg.Go(func() { slots[i] = f(ctx) })
	}
	wg.Wait()
	r.logf("%s: ran %d scenarios (%s)", e.env, len(scenarios), time.Since(start).Round(10*time.Millisecond))
	var rows []Row
	for _, s := range slots {
		rows = append(rows, s...)
	}
	return rows, nil
}

package conformance

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/gobuild"
	"github.com/isolab/isolab/internal/stress"
	"github.com/isolab/isolab/internal/submission"
)

// root is the repository root, from this package's directory.
var root, _ = filepath.Abs(filepath.Join("..", ".."))

// shared is what the integration tests build once: isolab's binaries, the
// sandbox's helper and isolab's course archives, and each implementation.
var shared struct {
	once                   sync.Once
	dir                    string
	server, client, helper string
	clib                   string
	err                    error

	mu    sync.Mutex
	impls map[string]*implOnce // built per implementation directory
}

type implOnce struct {
	once sync.Once
	impl *submission.Impl
	err  error
}

func TestMain(m *testing.M) {
	code := stress.Run(m)
	for _, o := range shared.impls {
		if o.impl != nil {
			o.impl.Close()
		}
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// needCXX skips t without a C++ compiler, make or root (the sandbox's).
func needCXX(t *testing.T) {
	t.Helper()
	for _, n := range [][2]string{{"g++", "g++"}, {"make", "make"}} {
		if _, err := exec.LookPath(n[0]); err != nil {
			t.Skipf("%s not found (try: apt-get install %s)", n[0], n[1])
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("submissions build and run in the sandbox, which needs root")
	}
}

func build(t *testing.T) {
	t.Helper()
	shared.once.Do(func() {
		ctx := context.Background() // no deadline: a busy machine is slower, not broken
		shared.dir, shared.err = os.MkdirTemp("", "isolab-conformance-test-")
		if shared.err != nil {
			return
		}
		var wg sync.WaitGroup
		var errOurs, errClib error
		wg.Go(func() {
			var bins []string
			bins, errOurs = gobuild.Static(ctx, root, filepath.Join(shared.dir, "bin"), gobuild.Server, gobuild.Client, gobuild.Sandbox)
			if errOurs == nil {
				shared.server, shared.client, shared.helper = bins[0], bins[1], bins[2]
			}
		})
		wg.Go(func() {
			shared.clib = filepath.Join(shared.dir, "clib")
			errClib = submission.BuildCLib(ctx, root, shared.clib)
		})
		wg.Wait()
		shared.err = errors.Join(errOurs, errClib)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
}

// builtImpl builds the implementation at dir once for all the tests, in the
// sandbox, as Run does.
func builtImpl(t *testing.T, dir string) *submission.Impl {
	t.Helper()
	build(t)
	shared.mu.Lock()
	if shared.impls == nil {
		shared.impls = map[string]*implOnce{}
	}
	o := shared.impls[dir]
	if o == nil {
		o = &implOnce{}
		shared.impls[dir] = o
	}
	shared.mu.Unlock()
	o.once.Do(func() {
		ctx := context.Background()
		out, err := os.MkdirTemp(shared.dir, "impl-")
		if err != nil {
			o.err = err
			return
		}
		start := time.Now()
		o.impl, o.err = submission.Build(ctx, submission.Config{Root: root, Out: out, Sandbox: shared.helper}, dir)
		t.Logf("built %s (%s)", dir, time.Since(start).Round(10*time.Millisecond))
	})
	if o.err != nil {
		t.Fatal(o.err)
	}
	return o.impl
}

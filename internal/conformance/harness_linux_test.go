package conformance

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/shm"
)

// needNetns skips t when this process may not make a network namespace.
func needNetns(t *testing.T) {
	t.Helper()
	ns, err := newNetns()
	if err != nil {
		t.Skipf("%v: the harness runs other implementations' servers only inside a network namespace of its own (run as root)", err)
	}
	ns.Close()
}

func build(t *testing.T) {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		shared.dir, shared.err = os.MkdirTemp("", "isolab-conformance-test-")
		if shared.err != nil {
			return
		}
		var wg sync.WaitGroup
		var errOurs, errClib error
		wg.Go(func() {
			shared.server, shared.client, errOurs = BuildOurs(ctx, root, filepath.Join(shared.dir, "bin"))
		})
		wg.Go(func() {
			shared.clib = filepath.Join(shared.dir, "clib")
			errClib = BuildCLib(ctx, root, shared.clib)
		})
		wg.Wait()
		shared.err = errors.Join(errOurs, errClib)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
}

// builtImpl builds the adapters against dir once for all the tests.
func builtImpl(t *testing.T, dir string) *Impl {
	t.Helper()
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
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := os.MkdirTemp(shared.dir, "impl-")
		if err != nil {
			o.err = err
			return
		}
		start := time.Now()
		o.impl, o.err = BuildImpl(ctx, root, dir, out)
		t.Logf("built the adapters against %s (%s)", dir, time.Since(start).Round(10*time.Millisecond))
	})
	if o.err != nil {
		t.Fatal(o.err)
	}
	return &o.impl
}

// failure is a failed check, as (server, client, check).
type failure struct{ server, client, check string }

func (f failure) String() string { return f.server + " server, " + f.client + " client: " + f.check }

// TestIntegrationHarness runs the harness on the host against isolab's own
// archives, where every check passes, and against the two flawed
// implementations in conformance/testdata, where exactly their flaws fail.
func TestIntegrationHarness(t *testing.T) {
	needCXX(t)
	needNetns(t)
	leakcheck.Check(t) // once for all the parallel subtests: it sees the whole process
	build(t)
	flawedClient := filepath.Join(root, "conformance", "testdata", "flawed-client")
	for _, tc := range []struct {
		name  string
		impl  string
		env   Env
		want  []failure
		skips []failure // checks skipped, when the environment cannot contain their servers
	}{
		{name: "isolab", impl: "", want: nil},
		{name: "flawed-server", impl: filepath.Join(root, "conformance", "testdata", "flawed-server"), want: []failure{
			{"theirs", "isolab", CheckLeaks},
			{"theirs", "theirs", CheckLeaks},
			{"theirs", "probe", CheckSocketClosed},
			{"theirs", "probe", CheckLateAttach},
			{"theirs", "probe", CheckLeaks},
			{"theirs", "probe", CheckNUL},
		}},
		{name: "flawed-client", impl: flawedClient, want: []failure{
			{"isolab", "theirs", CheckFiveLines},
			{"isolab", "theirs", CheckCounts},
			{"isolab", "theirs", CheckLeaks},
			{"theirs", "theirs", CheckFiveLines},
			{"theirs", "theirs", CheckCounts},
			{"theirs", "theirs", CheckLeaks},
			{"hang", "theirs", CheckConnectBound},
			{"hang", "theirs", CheckLeaks},
		}},
		// Without a network namespace only isolab's servers run, bound to
		// 127.0.0.1; the cells and probes with theirs are skipped.
		{name: "flawed-client-without-netns", impl: flawedClient, env: HostEnv{noNetns: true}, want: []failure{
			{"isolab", "theirs", CheckFiveLines},
			{"isolab", "theirs", CheckCounts},
			{"isolab", "theirs", CheckLeaks},
			{"hang", "theirs", CheckConnectBound},
			{"hang", "theirs", CheckLeaks},
		}, skips: []failure{
			{"theirs", "isolab", CheckFiveLines}, {"theirs", "isolab", CheckCounts},
			{"theirs", "isolab", CheckExits}, {"theirs", "isolab", CheckLeaks},
			{"theirs", "theirs", CheckFiveLines}, {"theirs", "theirs", CheckCounts},
			{"theirs", "theirs", CheckExits}, {"theirs", "theirs", CheckLeaks},
			{"theirs", "probe", CheckSocketClosed}, {"theirs", "probe", CheckLateAttach},
			{"theirs", "probe", CheckMessages}, {"theirs", "probe", CheckExits},
			{"theirs", "probe", CheckLeaks}, {"theirs", "probe", CheckNUL},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			impl := tc.impl
			if impl == "" {
				impl = shared.clib
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			work := t.TempDir()
			opts := Options{Root: root, Built: builtImpl(t, impl), WorkDir: work, OurServer: shared.server, OurClient: shared.client, Logf: t.Logf}
			opts.Envs = []Env{HostEnv{}} // the containers have their own test
			if tc.env != nil {
				opts.Envs = []Env{tc.env}
			}
			table, err := Run(ctx, opts)
			var out strings.Builder
			table.Write(&out)
			t.Logf("table for %s:\n%s", tc.name, out.String())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			expectOutcomes(t, table, tc.want, tc.skips)
			for _, k := range table.keys {
				if _, err := shm.Lookup(k); err == nil {
					t.Errorf("segment %s of the run left behind", k)
				}
			}
		})
	}
}

// expectOutcomes checks that exactly the checks want failed and exactly the
// checks skips were skipped.
func expectOutcomes(t *testing.T, table *Table, want, skips []failure) {
	t.Helper()
	var got, skipped []failure
	for _, r := range table.Rows {
		switch r.Outcome {
		case Fail:
			got = append(got, failure{r.Server, r.Client, r.Check})
		case Skip:
			skipped = append(skipped, failure{r.Server, r.Client, r.Check})
			if !slices.Contains(skips, skipped[len(skipped)-1]) {
				t.Errorf("%s server, %s client: %s skipped: %s", r.Server, r.Client, r.Check, r.Detail)
			}
		}
	}
	if len(skipped) != len(skips) {
		t.Errorf("%d checks skipped, want %d", len(skipped), len(skips))
	}
	for _, f := range got {
		if !slices.Contains(want, f) {
			t.Errorf("unexpected failure: %s", f)
		}
	}
	for _, f := range want {
		if !slices.Contains(got, f) {
			t.Errorf("flaw not reported: %s", f)
		}
	}
	if (table.Err() == nil) != (len(want) == 0) {
		t.Errorf("Table.Err() = %v with %d failures expected", table.Err(), len(want))
	}
}

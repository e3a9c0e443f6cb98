package conformance

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/engine"
	"github.com/isolab/isolab/internal/leakcheck"
)

// needEngine returns the container engine that answers in an isolated network
// namespace, or skips t with the cause and the fix.
func needEngine(t *testing.T) *engine.Engine {
	t.Helper()
	if err := isolated(); err != nil {
		t.Skip(err)
	}
	eng, err := engine.Detect(context.Background())
	if err != nil {
		t.Skipf("%v (or: scripts/netns-run --dockerd -- go test ./internal/conformance/)", err)
	}
	return eng
}

// conformanceLeftovers lists the containers of any ContainerEnv session and
// the images of other implementations' sessions.
func conformanceLeftovers(t *testing.T, eng *engine.Engine) []string {
	t.Helper()
	ctx := context.Background()
	ids, err := eng.List(ctx, sessionLabel)
	if err != nil {
		t.Fatal(err)
	}
	argv, _ := engine.ImagesArgv(eng.Kind, engine.Label)
	out, err := exec.CommandContext(ctx, eng.Path, argv[1:]...).Output()
	if err != nil {
		t.Fatalf("%s: %v", engine.Quote(argv), err)
	}
	for _, ref := range strings.Fields(string(out)) {
		if strings.HasPrefix(ref, "localhost/isolab-conformance-") {
			ids = append(ids, ref)
		}
	}
	return ids
}

// TestIntegrationContainer runs the harness's container environment against
// isolab's own archives, where every check that can run passes, and against
// the flawed server, whose flaws that show through a container's socket fail.
// The segment probes are skipped: the servers have their own IPC namespace.
func TestIntegrationContainer(t *testing.T) {
	needCXX(t)
	eng := needEngine(t)
	leakcheck.Check(t)
	before := conformanceLeftovers(t, eng)
	t.Cleanup(func() {
		for _, l := range conformanceLeftovers(t, eng) {
			if !slices.Contains(before, l) {
				t.Errorf("left behind: %s", l)
			}
		}
	})
	build(t)
	env := ContainerEnv{Engine: eng, Dockerfile: filepath.Join(root, "images", "Dockerfile")}
	segmentSkips := []failure{
		{"isolab", "probe", CheckLateAttach}, {"theirs", "probe", CheckLateAttach},
		{"isolab", "probe", CheckNUL}, {"theirs", "probe", CheckNUL},
	}
	for _, tc := range []struct {
		name string
		impl string
		want []failure
	}{
		{name: "isolab", impl: "", want: nil},
		{name: "flawed-server", impl: filepath.Join(root, "conformance", "testdata", "flawed-server"), want: []failure{
			{"theirs", "isolab", CheckLeaks},
			{"theirs", "theirs", CheckLeaks},
			{"theirs", "probe", CheckSocketClosed},
			{"theirs", "probe", CheckLeaks},
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
			table, err := Run(ctx, Options{
				Root: root, Built: builtImpl(t, impl), WorkDir: t.TempDir(), Envs: []Env{env},
				OurServer: shared.server, OurClient: shared.client, Logf: t.Logf,
			})
			var out strings.Builder
			table.Write(&out)
			t.Logf("table for %s:\n%s", tc.name, out.String())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(table.Rows) == 0 {
				t.Fatalf("no rows: %v", table.Notes)
			}
			for _, r := range table.Rows {
				if r.Env != string(eng.Kind) {
					t.Errorf("row of environment %q, want %q", r.Env, eng.Kind)
				}
			}
			expectOutcomes(t, table, tc.want, segmentSkips)
		})
	}
}

// TestIsolated checks the test of isolation on a thread inside a namespace
// with only lo: no default route there, whatever the host has.
func TestIsolated(t *testing.T) {
	needNetns(t)
	ns, err := newNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := ns.Do(isolated); err != nil {
		t.Errorf("isolated() inside a namespace with only lo = %v, want nil", err)
	}
}

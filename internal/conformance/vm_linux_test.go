package conformance

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/leakcheck"
)

// needVM returns the VM environment with the lab's cached image, or skips t
// with the cause and the fix.
func needVM(t *testing.T) VMEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("boots VMs (drop -short)")
	}
	if err := isolated(); err != nil {
		t.Skipf("%v (e.g. scripts/netns-run -- go test ./internal/conformance/)", err)
	}
	img, err := labVMImage(root)
	if err != nil {
		t.Skip(err)
	}
	return VMEnv{Image: img}
}

// qemuUnder lists the QEMU processes whose command line names dir.
func qemuUnder(t *testing.T, dir string) []string {
	t.Helper()
	out, _ := exec.Command("pgrep", "-a", "-f", "qemu-system").Output()
	var found []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(l, dir) {
			found = append(found, l)
		}
	}
	return found
}

// TestIntegrationVM runs the harness's VM environment with isolab's own
// server and client on both sides: every guest boots the binary from the
// share, the client classifies each as VM, each server exits 0 when its guest
// powers off (the status file), and nothing is left: no QEMU, overlay, info
// file, status file or segment. The probes that need a server's socket or
// segment are skipped.
func TestIntegrationVM(t *testing.T) {
	env := needVM(t)
	leakcheck.Check(t)
	build(t)
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	table, err := Run(ctx, Options{
		Root:    root,
		Built:   &Impl{Dir: "isolab (Go)", From: "binaries", Server: shared.server, Client: shared.client},
		WorkDir: work, Envs: []Env{env},
		OurServer: shared.server, OurClient: shared.client, Logf: t.Logf,
	})
	var out strings.Builder
	table.Write(&out)
	t.Logf("table (%s):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(table.Rows) == 0 {
		t.Fatalf("no rows: %v", table.Notes)
	}
	var skips []failure
	for _, s := range []string{"isolab", "theirs"} {
		for _, c := range []string{CheckSocketClosed, CheckLateAttach, CheckMessages, CheckExits, CheckLeaks, CheckNUL} {
			skips = append(skips, failure{s, "probe", c})
		}
	}
	expectOutcomes(t, table, nil, skips)

	if q := qemuUnder(t, work); len(q) > 0 {
		t.Errorf("QEMU left running: %q", q)
	}
	filepath.WalkDir(work, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(work, path)
		if strings.HasPrefix(rel, "vm") { // the share, overlays, pid files, sockets, status files
			t.Errorf("left behind: %s", path)
		}
		return nil
	})
}

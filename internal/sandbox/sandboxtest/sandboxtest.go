// Package sandboxtest gives tests the sandbox's helper, cmd/isolab-sandbox,
// built once per test binary. It reads no environment variables.
package sandboxtest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/isolab/isolab/internal/gobuild"
)

var helper struct {
	once sync.Once
	path string
	err  error
}

// Helper returns cmd/isolab-sandbox, built from this module the first time
// a test asks; it skips tb when not root, as the sandbox needs to be.
func Helper(tb testing.TB) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("the sandbox sets up a mount namespace and drops to another uid: it needs root")
	}
	helper.once.Do(func() {
		root, err := gobuild.Root(".")
		if err != nil {
			helper.err = err
			return
		}
		dir, err := os.MkdirTemp("", "isolab-sandbox-test-")
		if err != nil {
			helper.err = err
			return
		}
		// The helper re-executes itself as the code's uid (its kill stage):
		// that uid must reach it.
		if helper.err = os.Chmod(dir, 0o755); helper.err != nil {
			return
		}
		var bins []string
		if bins, helper.err = gobuild.Static(context.Background(), root, dir, gobuild.Sandbox); helper.err == nil {
			helper.path = bins[0]
		}
	})
	if helper.err != nil {
		tb.Fatal(helper.err)
	}
	return helper.path
}

// Cleanup removes the helper: call it from TestMain after the tests ran.
func Cleanup() {
	if helper.path != "" {
		os.RemoveAll(filepath.Dir(helper.path))
	}
}

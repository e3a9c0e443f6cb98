// Package gobuild builds isolab's commands as the static binaries every
// environment runs: one build, with one set of flags, for the lab, the
// conformance harness, the VM image and the tests, so that two of them never
// disagree about a binary (the VM image's cache key hashes lab-init's bytes).
//
// Environment variables it reads: GOROOT, to find the go command (default:
// go on $PATH, else the one this program was built with).
package gobuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/isolab/isolab/internal/shell"
)

// The commands the lab runs, by their directory under cmd/.
const (
	Server  = "server"         // the exercise's server
	Client  = "client"         // the exercise's client
	Init    = "lab-init"       // the VM guest's PID 1
	Sandbox = "isolab-sandbox" // runs a submission's code in a cage
)

// Flags are the build flags of every binary: static (no cgo), no paths of
// the build machine, no symbol tables.
var Flags = []string{"-trimpath", "-ldflags=-s -w"}

// Static builds the commands named (directories under root/cmd) into dir,
// each as a static binary named after its directory, and returns their
// paths in the same order. The go command's cache makes a build with nothing
// changed take well under a second.
func Static(ctx context.Context, root, dir string, cmds ...string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("build %s: %w", strings.Join(cmds, ", "), err)
	}
	argv := append([]string{GoTool(), "build"}, Flags...)
	argv = append(argv, "-o", dir+string(filepath.Separator))
	paths := make([]string, len(cmds))
	for i, c := range cmds {
		argv = append(argv, "./cmd/"+c)
		paths[i] = filepath.Join(dir, c)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("CGO_ENABLED=0 %s (in %s): %w\n%s", shell.Quote(argv), root, err, strings.TrimSpace(out.String()))
	}
	return paths, nil
}

// GoTool is the go command: $GOROOT/bin/go, else go on $PATH (go test and
// go run put their own first there), else plain "go", whose run then says
// it is not found.
func GoTool() string {
	if r := os.Getenv("GOROOT"); r != "" {
		if p := filepath.Join(r, "bin", "go"); isFile(p) {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Root returns the module's root: the first directory at or above dir that
// holds go.mod.
func Root(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if isFile(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no go.mod at or above %s", dir)
		}
	}
}

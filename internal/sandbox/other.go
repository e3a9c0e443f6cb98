//go:build !linux

package sandbox

import (
	"fmt"
	"os"
	"runtime"
)

// Main refuses to run: the sandbox needs Linux's namespaces.
func Main(args []string) int {
	fmt.Fprintf(os.Stderr, "isolab-sandbox: needs Linux, this is %s\n", runtime.GOOS)
	return 125
}

// Clean does nothing off Linux.
func Clean(helper string, uid int) []string { return nil }

// Processes finds nothing off Linux.
func Processes(uid int) []int { return nil }

// Canary is not supported off Linux.
type Canary struct{}

// StartCanary is not supported off Linux.
func StartCanary(helper string, uid int) (*Canary, error) {
	return nil, fmt.Errorf("canaries need Linux, this is %s", runtime.GOOS)
}

// Killed reports nothing off Linux.
func (c *Canary) Killed() bool { return false }

// Stop does nothing off Linux.
func (c *Canary) Stop() {}

// MountDisk is not supported off Linux.
func MountDisk(name, dir, size string) error {
	return fmt.Errorf("a tmpfs for %s: needs Linux, this is %s", dir, runtime.GOOS)
}

// UnmountAll does nothing off Linux.
func UnmountAll(dir string) {}

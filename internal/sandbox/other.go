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

// Sweep does nothing off Linux.
func Sweep(helper string, uid int) {}

// Processes finds nothing off Linux.
func Processes(uid int) []int { return nil }

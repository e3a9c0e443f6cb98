//go:build !linux

package guestinit

import (
	"fmt"
	"os"
	"runtime"
)

// Main refuses to run: the guest is Linux.
func Main() {
	fmt.Fprintf(os.Stderr, "lab-init: a Linux guest's PID 1, not for %s\n", runtime.GOOS)
	os.Exit(1)
}

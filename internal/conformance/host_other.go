//go:build !linux

package conformance

import (
	"context"
	"errors"
	"fmt"

	"github.com/isolab/isolab/internal/vm"
)

var errUnsupported = errors.New("the conformance harness runs on Linux only")

// HostEnv runs servers as processes on this machine (Linux only).
type HostEnv struct{}

// Name is "host".
func (HostEnv) Name() string { return "host" }

// Open fails: there is no host environment on this platform.
func (HostEnv) Open(context.Context, string, func(string, ...any)) (Session, error) {
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, errUnsupported)
}

func startProcess(argv, env []string, logPath string) (Process, error) { return nil, errUnsupported }
func boundPort(int) (int, error)                                       { return 0, errUnsupported }

// VMEnv runs each server in a QEMU guest (Linux only).
type VMEnv struct {
	Image vm.Image
	Accel vm.Accel
}

// Name is "vm".
func (VMEnv) Name() string { return "vm" }

// Open fails: there is no VM environment on this platform.
func (VMEnv) Open(context.Context, string, func(string, ...any)) (Session, error) {
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, errUnsupported)
}

// VMImage fails: there is no VM environment on this platform.
func VMImage(root, imageDir, init string) (vm.Image, error) { return vm.Image{}, errUnsupported }

//go:build !linux

package vm

import (
	"context"
	"errors"
)

// errUnsupported is what every guest operation returns off Linux: the lab's
// VM path needs /proc, network namespaces and a Linux guest share.
var errUnsupported = errors.New("VM guests are supported on Linux only")

// DetectAccel is not supported off Linux.
func DetectAccel() (Accel, string, error) { return "", "", errUnsupported }

// Start is not supported off Linux.
func (m *Machine) Start(ctx context.Context) error { return errUnsupported }

// WaitReady is not supported off Linux.
func (m *Machine) WaitReady(ctx context.Context, infoFile string) error { return errUnsupported }

// Stop is not supported off Linux.
func (m *Machine) Stop(ctx context.Context) error { return errUnsupported }

// Kill is not supported off Linux: there is nothing to kill.
func (m *Machine) Kill() {}

// PID is not supported off Linux: it never finds a guest.
func (m *Machine) PID() (int, bool) { return 0, false }

// Progress is not supported off Linux: a guest never advances.
func (m *Machine) Progress() int64 { return 0 }

// alive is false off Linux: no guest runs.
func (q *qemuProc) alive() bool { return false }

//go:build !linux

package netns

import (
	"context"
	"errors"
)

var errUnsupported = errors.New("network namespaces are Linux's")

// ErrExists is wrapped by Create's error when the namespace is there already.
var ErrExists = errors.New("network namespace exists")

// Create is not supported off Linux.
func Create(ctx context.Context, name string) error { return errUnsupported }

// Delete is not supported off Linux.
func Delete(ctx context.Context, name string) error { return errUnsupported }

// Pids is not supported off Linux.
func Pids(ctx context.Context, name string) ([]int, error) { return nil, errUnsupported }

// Do runs f where it is; entering a namespace is not supported off Linux.
func Do(path string, f func() error) error {
	if path == "" {
		return f()
	}
	return errUnsupported
}

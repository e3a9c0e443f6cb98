//go:build !linux

package labnet

import (
	"context"
	"fmt"
	"runtime"
)

// Up is not supported off Linux: network namespaces are Linux's.
func Up(ctx context.Context, cfg Config, dockerd bool, logf func(string, ...any)) (*Net, error) {
	return nil, fmt.Errorf("a lab network needs Linux's network namespaces, this is %s", runtime.GOOS)
}

// Attach is not supported off Linux.
func Attach(cfg Config) (*Net, error) { return Up(context.Background(), cfg, false, nil) }

// Down finds nothing to take down off Linux.
func Down(ctx context.Context, cfg Config) ([]string, error) { return nil, nil }

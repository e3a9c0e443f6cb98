package lab

import (
	"context"
	"path/filepath"

	"github.com/isolab/isolab/internal/gobuild"
)

// ServerBin is the static server binary the lab runs everywhere.
func (l *Lab) ServerBin() string {
	if l.serverBin != "" {
		return l.serverBin
	}
	return filepath.Join(l.BinDir(), gobuild.Server)
}

// ClientBin is the static client binary the lab runs on the host.
func (l *Lab) ClientBin() string { return filepath.Join(l.BinDir(), gobuild.Client) }

// InitBin is the VM guest's PID 1, baked into the VM image.
func (l *Lab) InitBin() string { return filepath.Join(l.BinDir(), gobuild.Init) }

// Build compiles the static server, client and lab-init into BinDir. The go
// command's cache makes a build with nothing changed take well under a second.
func (l *Lab) Build(ctx context.Context) error {
	return l.Step("built server, client and lab-init", func() error {
		_, err := gobuild.Static(ctx, l.Root, l.BinDir(), gobuild.Server, gobuild.Client, gobuild.Init)
		return err
	})
}

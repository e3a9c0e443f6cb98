package lab

import (
	"context"
	"path/filepath"
	"strconv"

	"github.com/isolab/isolab/internal/gobuild"
	"github.com/isolab/isolab/internal/scenario"
)

// ServerBin is the static server binary the lab runs everywhere.
func (l *Lab) ServerBin() string { return filepath.Join(l.BinDir(), "server") }

// ClientBin is the static client binary the lab runs on the host.
func (l *Lab) ClientBin() string { return filepath.Join(l.BinDir(), "client") }

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

// serverArgs is the server's command line (without the binary) for r. Servers
// that share the host's network namespace listen on 127.0.0.1: the host's client
// reaches them there, and no test or lab run connects to an address that could
// leave the machine.
func serverArgs(r *Running) []string {
	args := []string{
		"-port", strconv.Itoa(r.Port),
		"-shm-path", r.ShmPath,
		"-proj-id", strconv.Itoa(r.ProjID),
		"-info-dir", filepath.Dir(r.InfoFile),
		"-info-name", filepath.Base(r.InfoFile),
		"-shm-msg", r.ShmMsg,
		"-socket-msg", r.SocketMsg,
	}
	if r.AcceptTimeout > 0 {
		args = append(args, "-accept-timeout", r.AcceptTimeout.String())
	}
	if r.EffectiveNetwork() == scenario.NetworkHost {
		args = append(args, "-ip", "127.0.0.1")
	}
	return args
}

package lab

import (
	"context"
	"os"
	"path/filepath"
	"strconv"

	"github.com/isolab/isolab/internal/scenario"
)

// ServerBin is the static server binary the lab runs everywhere.
func (l *Lab) ServerBin() string { return filepath.Join(l.BinDir(), "server") }

// ClientBin is the static client binary the lab runs on the host.
func (l *Lab) ClientBin() string { return filepath.Join(l.BinDir(), "client") }

// Build compiles the static server and client into BinDir. The go command's
// cache makes a build with nothing changed take well under a second.
func (l *Lab) Build(ctx context.Context) error {
	return l.Step("built server and client", func() error {
		goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if os.Getenv("GOROOT") == "" {
			goBin = "go"
		}
		_, err := l.CommandEnv(ctx, []string{"CGO_ENABLED=0"}, goBin, "build", "-trimpath", "-ldflags=-s -w",
			"-o", l.BinDir()+string(filepath.Separator), "./cmd/server", "./cmd/client")
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

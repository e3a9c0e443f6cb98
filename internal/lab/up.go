package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/labnet"
	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/scenario"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/server"
)

// stopGrace is how long a server gets after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// Up stands up every server the scenario lists and this machine can run, in
// the lab's network namespace, and waits until each has written its info
// file. It builds what is missing first: the binaries, the VM image (this
// process stays outside the namespace, where Debian's mirror is), a dockerd
// for Docker servers. Everything it starts outlives it, until lab:down. On
// failure or Ctrl-C it tears down what it had started.
func (l *Lab) Up(ctx context.Context) (st *State, err error) {
	if old, err := l.LoadState(); err != nil {
		return nil, err
	} else if old != nil {
		if l.stillUp(old) {
			return nil, fmt.Errorf("the lab is already up (since %s, %d servers, network namespace %s): run 'go tool mage lab:down' first",
				old.Started.Format(time.TimeOnly), len(old.Servers), old.NetNS)
		}
		l.Printf("the lab in %s was left up by a run that is gone (a kill -9, or a reboot): reaping it first", l.Dir)
		if err := l.Down(ctx); err != nil {
			return nil, err
		}
	}
	sc, servers, err := l.Plan()
	if err != nil {
		return nil, err
	}
	if err := l.Build(ctx); err != nil {
		return nil, err
	}
	var img runenv.VMImage
	if uses(servers, scenario.EnvVM) {
		if img, err = l.vmImage(ctx); err != nil {
			return nil, err
		}
	}
	if err := l.prepareDirs(servers); err != nil {
		return nil, err
	}
	var net *labnet.Net
	err = l.Step("lab network", func() (err error) {
		net, err = labnet.Up(ctx, l.Net(), uses(servers, scenario.EnvDocker), func(f string, a ...any) { l.Printf("  "+f, a...) })
		return err
	})
	if err != nil {
		return nil, err
	}
	st = &State{
		Scenario:   sc.File,
		Started:    time.Now(),
		Expected:   scenario.Expected(servers, scenario.InfoName).String(),
		NetNS:      net.Name,
		DockerHost: net.DockerHost(),
	}
	defer func() {
		switch {
		case err != nil && ctx.Err() != nil: // Ctrl-C: what a cut-short start left is no fault
			_, derr := l.teardown(context.WithoutCancel(ctx), st)
			err, st = errors.Join(fmt.Errorf("interrupted; tore down what was started"), derr), nil
		case err != nil:
			l.Printf("tearing down after: %v", err)
			err, st = errors.Join(err, l.down(context.WithoutCancel(ctx), st)), nil
		}
	}()
	if err := l.SaveState(st); err != nil {
		return st, err
	}
	// A dockerd killed with -9 keeps its containers in its data root; they
	// would take the names of this run's.
	for _, gone := range runenv.Reap(ctx, l.runnerConfig(st, img)) {
		l.Printf("  removed %s an earlier run left", gone)
	}
	runner := runenv.New(l.runnerConfig(st, img))
	l.live = map[string]runenv.Server{}
	// The slowest environments start first, so they boot while the rest start.
	for _, env := range []scenario.Env{scenario.EnvVM, scenario.EnvApptainer, scenario.EnvDocker, scenario.EnvPodman, scenario.EnvUnshare, scenario.EnvHost} {
		for _, s := range servers {
			if s.Env != env {
				continue
			}
			r := l.running(s, sc.AcceptTimeout)
			err := l.Step(fmt.Sprintf("%s %s started", env, s.Name), func() error {
				srv, err := runner.Start(ctx, l.spec(r))
				if err != nil {
					return err
				}
				l.live[s.Name], r.Handle = srv, srv.Handle()
				return nil
			})
			if err != nil {
				return st, err
			}
			st.Servers = append(st.Servers, r)
			if err := l.SaveState(st); err != nil {
				return st, err
			}
		}
	}
	if err := l.waitReady(ctx, st); err != nil {
		return st, err
	}
	return st, l.SaveState(st)
}

// stillUp reports whether anything a state file names still runs: its
// network namespace, or one of its servers.
func (l *Lab) stillUp(st *State) bool {
	if st.NetNS != "" && netns.Exists(st.NetNS) {
		return true
	}
	for _, r := range st.Servers {
		if runenv.Running(runenv.Attach(r.Handle)) {
			return true
		}
	}
	return false
}

// runnerConfig is where the lab's servers run: its namespace and dockerd
// (from st), its directories, and img for guests.
func (l *Lab) runnerConfig(st *State, img runenv.VMImage) runenv.Config {
	cfg := runenv.Config{
		Dir:            l.RunDir(),
		SharedDir:      l.SharedDir(),
		Label:          l.id(),
		DockerHost:     st.DockerHost,
		Dockerfile:     filepath.Join(l.Root, "images", "Dockerfile"),
		ApptainerDef:   filepath.Join(l.Root, "images", "server.def"),
		ApptainerFlags: strings.Fields(os.Getenv(VarApptainer)),
		VMImage:        img,
		Log:            l.log(),
	}
	if st.NetNS != "" {
		cfg.NetNS = netns.Path(st.NetNS)
	}
	return cfg
}

func (l *Lab) running(s scenario.Server, acceptTimeout time.Duration) Running {
	r := Running{
		Server:        s,
		ShmPath:       l.ShmPath(s),
		InfoFile:      filepath.Join(l.InfoDir(), scenario.InfoName(s)),
		AcceptTimeout: acceptTimeout,
	}
	if key, err := shm.Ftok(r.ShmPath, r.ProjID); err == nil {
		r.Key = key.String()
	}
	return r
}

// spec is r's server as runenv starts it. Servers that share the lab's
// network namespace listen on 127.0.0.1; the others pick their own address.
func (l *Lab) spec(r Running) runenv.Spec {
	setup := server.Setup{
		Port:              r.Port,
		ShmPathname:       r.ShmPath,
		ShmProjID:         r.ProjID,
		InfoFileDirectory: filepath.Dir(r.InfoFile),
		InfoFileName:      filepath.Base(r.InfoFile),
		AcceptTimeout:     r.AcceptTimeout,
	}
	if r.EffectiveNetwork() == scenario.NetworkHost {
		setup.IP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return runenv.Spec{
		Name:       r.Name,
		Kind:       runenv.Kind(r.Env),
		Bin:        l.ServerBin(),
		Args:       server.CommandLine(setup, r.ShmMsg, r.SocketMsg),
		IPC:        string(r.EffectiveIPC()),
		Network:    string(r.EffectiveNetwork()),
		Containall: r.Containall,
		ExtraArgs:  r.ExtraArgs,
		Log:        l.LogPath(r.Name),
	}
}

// prepareDirs makes the shared directory with an empty info directory and the
// files that key the segments, and empties the logs.
func (l *Lab) prepareDirs(servers []scenario.Server) error {
	for _, d := range []string{l.InfoDir(), l.RunDir(), l.LogDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// Containers run as the invoking user: let them write their info files.
	if err := os.Chmod(l.InfoDir(), 0o777|os.ModeSticky); err != nil {
		return err
	}
	if left, _ := infofile.List(l.InfoDir()); len(left) > 0 {
		return fmt.Errorf("info directory %s still holds %s from an earlier run: run 'go tool mage lab:down'", l.InfoDir(), left[0].Name)
	}
	for _, s := range servers {
		p := l.ShmPath(s)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return fmt.Errorf("shm pathname of %s: %w", s.Name, err)
		}
		f.Close()
		if err := os.Remove(l.LogPath(s.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// waitReady waits for every server's info file at once, while each server
// makes progress (runenv.WaitInfo), and records its address.
func (l *Lab) waitReady(ctx context.Context, st *State) error {
	return l.Step(fmt.Sprintf("%d servers ready", len(st.Servers)), func() error {
		start := time.Now()
		errs := make([]error, len(st.Servers))
		var wg sync.WaitGroup
		for i := range st.Servers {
			r := &st.Servers[i]
			wg.Go(func() {
				info, err := runenv.WaitInfo(ctx, l.live[r.Name], r.InfoFile, 0)
				if err != nil {
					errs[i] = err
					return
				}
				r.Address = fmt.Sprintf("%s:%d", info.IP, info.Port)
				l.Printf("  %s ready at %s after %s", r.Name, r.Address, round(time.Since(start)))
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	})
}

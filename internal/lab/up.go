package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/scenario"
	"github.com/isolab/isolab/internal/shm"
)

// backend starts and stops the servers of one kind of environment.
type backend interface {
	// Start launches r's server detached, so it outlives this process, and fills
	// in r.Argv and r.PID or r.Container.
	Start(ctx context.Context, r *Running) error
	// Stop ends r's server, SIGTERM first, and returns its exit status (-1 when
	// it cannot be known).
	Stop(ctx context.Context, r *Running) (int, error)
}

// readyTimeout is how long a server of each environment may take to write its
// info file after it was started.
func readyTimeout(env scenario.Env) time.Duration {
	switch env {
	case scenario.EnvHost, scenario.EnvUnshare:
		return 5 * time.Second
	case scenario.EnvVM:
		return 90 * time.Second
	}
	return 30 * time.Second
}

// Plan loads the scenario (Config.Scenario, else $LAB_SCENARIO, else the
// default), keeps the servers this machine can run and says which it leaves out
// and why.
func (l *Lab) Plan(ctx context.Context) (*scenario.Scenario, []scenario.Server, *environments, error) {
	sc, err := l.loadScenario()
	if err != nil {
		return nil, nil, nil, err
	}
	envs, err := l.detect(ctx, sc.Servers)
	if err != nil {
		return nil, nil, nil, err
	}
	servers := sc.Servers
	if envs.engine != "" {
		if servers, err = scenario.UseEngine(servers, envs.engine); err != nil {
			return nil, nil, nil, err
		}
	}
	kept, dropped := scenario.Filter(servers, envs.unavailable)
	for _, d := range dropped {
		l.Printf("%s", d)
	}
	if len(kept) == 0 {
		return nil, nil, nil, fmt.Errorf("scenario %s: no server can run here", sc.File)
	}
	return sc, kept, envs, nil
}

// loadScenario is Config.Scenario, validated and allocated, else the file
// $LAB_SCENARIO names, else the default.
func (l *Lab) loadScenario() (*scenario.Scenario, error) {
	if l.Scenario == nil {
		return scenario.Load(os.Getenv(EnvScenario))
	}
	sc := *l.Scenario
	sc.Servers = slices.Clone(sc.Servers)
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, sc.Allocate()
}

// Up stands up every server the scenario lists and this machine can run, and
// waits until each has written its info file. On failure or Ctrl-C it tears down
// what it had started.
func (l *Lab) Up(ctx context.Context) (st *State, err error) {
	if old, err := l.LoadState(); err != nil {
		return nil, err
	} else if old != nil {
		return nil, fmt.Errorf("the lab is already up (%s): run 'go tool mage lab:down' first", l.statePath())
	}
	sc, servers, envs, err := l.Plan(ctx)
	if err != nil {
		return nil, err
	}
	if err := l.Build(ctx); err != nil {
		return nil, err
	}
	l.envs = envs
	if err := envs.prepare(ctx); err != nil {
		return nil, err
	}
	if err := l.prepareDirs(servers); err != nil {
		return nil, err
	}
	st = &State{
		Scenario: sc.File,
		Started:  time.Now(),
		Expected: scenario.Expected(servers, scenario.InfoName).String(),
	}
	defer func() {
		if err != nil {
			l.Printf("tearing down after: %v", err)
			err = errors.Join(err, l.down(context.WithoutCancel(ctx), st, envs))
			st = nil
		}
	}()
	// The slowest environments start first, so they boot while the rest start.
	for _, env := range []scenario.Env{scenario.EnvVM, scenario.EnvApptainer, scenario.EnvDocker, scenario.EnvPodman, scenario.EnvUnshare, scenario.EnvHost} {
		for _, s := range servers {
			if s.Env != env {
				continue
			}
			r := l.running(s, sc.AcceptTimeout)
			st.Servers = append(st.Servers, r)
			rp := &st.Servers[len(st.Servers)-1]
			err := l.Step(fmt.Sprintf("%s %s started", env, s.Name), func() error {
				return envs.backend(env).Start(ctx, rp)
			})
			if serr := l.SaveState(st); err == nil {
				err = serr
			}
			if err != nil {
				return st, err
			}
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
	}
	if err := l.waitReady(ctx, st); err != nil {
		return st, err
	}
	return st, l.SaveState(st)
}

func (l *Lab) running(s scenario.Server, acceptTimeout time.Duration) Running {
	r := Running{
		Server:        s,
		ShmPath:       l.ShmPath(s),
		InfoFile:      filepath.Join(l.InfoDir(), scenario.InfoName(s)),
		Log:           l.LogPath(s.Name),
		AcceptTimeout: acceptTimeout,
	}
	if key, err := shm.Ftok(r.ShmPath, r.ProjID); err == nil {
		r.Key = key.String()
	}
	return r
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

// waitReady polls for every server's info file and records its address. A
// server that does not get there in time fails the step with its log's tail.
func (l *Lab) waitReady(ctx context.Context, st *State) error {
	return l.Step(fmt.Sprintf("%d servers ready", len(st.Servers)), func() error {
		start := time.Now()
		for {
			pending := 0
			for i := range st.Servers {
				r := &st.Servers[i]
				if r.Address != "" {
					continue
				}
				if info, err := readInfo(r.InfoFile); err == nil {
					r.Address = fmt.Sprintf("%s:%d", info.IP, info.Port)
					l.Printf("  %s ready at %s after %s", r.Name, r.Address, round(time.Since(start)))
					continue
				}
				if time.Since(start) > readyTimeout(r.Env) {
					return fmt.Errorf("%s wrote no info file %s within %s; last lines of %s:\n%s",
						r.Name, r.InfoFile, readyTimeout(r.Env), r.Log, TailFile(r.Log, 20))
				}
				pending++
			}
			if pending == 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}

func readInfo(path string) (infofile.Info, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return infofile.Info{}, err
	}
	return infofile.Parse(b)
}

package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/isolab/isolab/internal/scenario"
	"github.com/isolab/isolab/internal/shm"
)

// Down stops every server the state file names, reaps whatever an interrupted
// run left (processes from pid files, containers with the lab's label, segments
// with the lab's keys, info files) and forgets the state. Running it again does
// nothing. What it had to reap is printed, not an error.
func (l *Lab) Down(ctx context.Context) error {
	st, err := l.LoadState()
	if err != nil {
		return err
	}
	envs := l.envs
	if envs == nil {
		envs = l.envsFor(ctx, st)
	}
	leaks, err := l.teardown(ctx, st, envs)
	for _, leak := range leaks {
		l.Printf("reaped %s", leak)
	}
	if st == nil && len(leaks) == 0 && err == nil {
		l.Printf("the lab was already down: nothing to stop or reap")
	}
	return err
}

// down is Down for a run that must leave nothing behind: every server must exit 0
// and clean up after itself, so anything left to reap is an error.
func (l *Lab) down(ctx context.Context, st *State, envs *environments) error {
	leaks, err := l.teardown(ctx, st, envs)
	if len(leaks) > 0 {
		err = errors.Join(err, fmt.Errorf("left behind, now removed: %s", strings.Join(leaks, "; ")))
	}
	return err
}

// teardown stops the servers, then removes and lists what is left.
func (l *Lab) teardown(ctx context.Context, st *State, envs *environments) (leaks []string, err error) {
	var errs []error
	if st != nil {
		for i := len(st.Servers) - 1; i >= 0; i-- {
			r := &st.Servers[i]
			var code int
			serr := l.Step(fmt.Sprintf("%s %s stopped", r.Env, r.Name), func() error {
				var err error
				code, err = envs.backend(r.Env).Stop(ctx, r)
				return err
			})
			switch {
			case serr != nil:
				errs = append(errs, serr)
			case code > 0:
				errs = append(errs, fmt.Errorf("server %s exited with status %d; last lines of %s:\n%s", r.Name, code, r.Log, TailFile(r.Log, 10)))
			}
		}
	}
	leaks = l.reap(ctx, st, envs)
	if err := os.Remove(l.statePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	l.envs = nil
	return leaks, errors.Join(errs...)
}

// reap removes whatever the lab made that is still there and names each thing.
func (l *Lab) reap(ctx context.Context, st *State, envs *environments) []string {
	var leaks []string
	// Processes from pid files: servers on the host and apptainer.
	pids, _ := filepath.Glob(filepath.Join(l.RunDir(), "*.pid"))
	for _, pf := range pids {
		b, _ := os.ReadFile(pf)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if isServerProcess(pid, l.ServerBin()) || isServerProcess(pid, "apptainer") {
			syscall.Kill(pid, syscall.SIGKILL)
			leaks = append(leaks, fmt.Sprintf("server process %d (%s)", pid, strings.TrimSuffix(filepath.Base(pf), ".pid")))
		}
		os.Remove(pf)
	}
	// Containers and VMs: each backend that can reap does.
	for _, b := range envs.backends {
		if r, ok := b.(reaper); ok {
			leaks = append(leaks, r.Reap(ctx)...)
		}
	}
	// Info files (and half-written temporaries) in the shared directory.
	if des, err := os.ReadDir(l.InfoDir()); err == nil {
		for _, de := range des {
			p := filepath.Join(l.InfoDir(), de.Name())
			if os.RemoveAll(p) == nil {
				leaks = append(leaks, "info file "+p)
			}
		}
	}
	// Segments with the keys the lab handed out: the lab's own files key them,
	// so nothing else owns them.
	if st != nil {
		for _, r := range st.Servers {
			key, err := shm.Ftok(r.ShmPath, r.ProjID)
			if err != nil {
				continue
			}
			id, err := shm.Lookup(key)
			if err != nil {
				continue
			}
			if shm.Remove(id) == nil {
				leaks = append(leaks, fmt.Sprintf("segment %s (shmid %d) of %s", key, id, r.Name))
			}
		}
	}
	return leaks
}

// reaper is a backend that can find and remove what an interrupted run left.
type reaper interface {
	Reap(ctx context.Context) []string
}

// envsFor rebuilds backends for a state written by another process (lab:up),
// so lab:down can stop its servers and reap every kind of environment it knows.
func (l *Lab) envsFor(ctx context.Context, st *State) *environments {
	var servers []scenario.Server
	if st != nil {
		for _, r := range st.Servers {
			servers = append(servers, r.Server)
		}
	}
	e, err := l.detect(ctx, servers)
	if err != nil {
		l.Printf("note: %v", err)
		e = &environments{unavailable: map[scenario.Env]string{}, backends: map[scenario.Env]backend{scenario.EnvHost: newHostBackend(l)}}
	}
	return e
}

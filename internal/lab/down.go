package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/labnet"
	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/shell"
	"github.com/isolab/isolab/internal/shm"
)

// Down stops every server the state file names, reaps whatever an interrupted
// run left (servers, containers, guests, processes in the lab's namespace,
// segments with the lab's keys, info files), stops the lab's dockerd, deletes
// its namespace and forgets the state. It works from the names alone, after a
// kill -9 of any part or a reboot, and running it again does nothing. What
// it had to reap is printed, not an error.
func (l *Lab) Down(ctx context.Context) error {
	st, err := l.LoadState()
	if err != nil {
		return err
	}
	leaks, err := l.teardown(ctx, st)
	for _, leak := range leaks {
		l.Printf("reaped %s", leak)
	}
	if st == nil && len(leaks) == 0 && err == nil {
		l.Printf("the lab was already down: nothing to stop or reap")
	}
	return err
}

// down is Down for a run that must leave nothing behind: every server must
// exit 0 and clean up after itself, so anything left to reap is an error.
func (l *Lab) down(ctx context.Context, st *State) error {
	leaks, err := l.teardown(ctx, st)
	if len(leaks) > 0 {
		err = errors.Join(err, fmt.Errorf("left behind, now removed: %s", strings.Join(leaks, "; ")))
	}
	return err
}

// teardown stops the servers, then removes and lists what is left.
func (l *Lab) teardown(ctx context.Context, st *State) (leaks []string, err error) {
	var errs []error
	if st == nil {
		st = &State{NetNS: l.Net().Name}
	}
	for i := len(st.Servers) - 1; i >= 0; i-- {
		r := &st.Servers[i]
		s := l.live[r.Name]
		if s == nil {
			s = runenv.Attach(r.Handle)
		}
		var code int
		serr := l.Step(fmt.Sprintf("%s %s stopped", r.Env, r.Name), func() (err error) {
			code, err = s.Stop(stopGrace)
			return err
		})
		switch {
		case serr != nil:
			errs = append(errs, serr)
		case code > 0:
			errs = append(errs, fmt.Errorf("server %s exited with status %d; last lines of %s:\n%s", r.Name, code, r.Handle.Log, shell.TailFile(r.Handle.Log, 10)))
		}
	}
	l.live = nil
	leaks = runenv.Reap(ctx, l.runnerConfig(st, runenv.VMImage{}))
	down := func() error {
		netLeaks, err := labnet.Down(ctx, l.Net())
		leaks = append(leaks, netLeaks...)
		return err
	}
	if netns.Exists(l.Net().Name) {
		errs = append(errs, l.Step("lab network down", down))
	} else {
		errs = append(errs, down()) // a dockerd or mounts left by a kill -9
	}
	leaks = append(leaks, l.reapFiles(st)...)
	if err := os.Remove(l.statePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return leaks, errors.Join(errs...)
}

// reapFiles removes the info files (and half-written temporaries) left in
// the shared directory and the segments with the keys the lab handed out:
// the lab's own files key them, so nothing else owns them. The servers'
// binaries and exit statuses on the share go too.
func (l *Lab) reapFiles(st *State) []string {
	var leaks []string
	for _, name := range infofile.Clear(l.InfoDir()) {
		leaks = append(leaks, "info file "+filepath.Join(l.InfoDir(), name))
	}
	for _, r := range st.Servers {
		key, err := shm.Ftok(r.ShmPath, r.ProjID)
		if err != nil {
			continue
		}
		if id, err := shm.Lookup(key); err == nil && shm.Remove(id) == nil {
			leaks = append(leaks, fmt.Sprintf("segment %s (shmid %d) of %s", key, id, r.Name))
		}
	}
	os.RemoveAll(filepath.Join(l.SharedDir(), "bin"))
	os.RemoveAll(filepath.Join(l.SharedDir(), "status"))
	return leaks
}

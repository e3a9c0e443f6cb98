package runenv

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/shell"
)

// DefaultStall is how long a server may make no progress at all before
// WaitInfo gives up on it: no CPU time used by a process or container, no
// console output from a guest (see vm.DefaultStall). A server that still
// runs and still advances is still coming, however slow the machine.
const DefaultStall = 60 * time.Second

// WaitInfo waits until s has written its info file, file, and returns what
// it holds. It follows the server's progress, not the clock: it fails at
// once when the server exits without the file, and when it has made no
// progress for stall (0 means DefaultStall); the error then quotes the last
// lines the server printed.
func WaitInfo(ctx context.Context, s Server, file string, stall time.Duration) (infofile.Info, error) {
	if stall <= 0 {
		stall = DefaultStall
	}
	if g, ok := s.(*guest); ok {
		g.m.Config.Stall = stall
		// vm.Machine.WaitReady follows the console and hands the boot slot on.
		if err := g.m.WaitReady(ctx, file); err != nil {
			return infofile.Info{}, fmt.Errorf("%s: %w", s.Name(), err)
		}
		return infofile.Read(file)
	}
	last, progress := s.progress(), time.Now()
	checked := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if info, err := infofile.Read(file); err == nil {
			return info, nil
		}
		select {
		case <-s.Done():
			if info, err := infofile.Read(file); err == nil {
				return info, nil // written just before it exited
			}
			return infofile.Info{}, fmt.Errorf("%s exited %d before writing its info file %s; it printed:\n%s",
				s.Name(), s.ExitCode(), file, shell.Indent(shell.Tail(s.Output(), 15)))
		case <-ctx.Done():
			return infofile.Info{}, fmt.Errorf("%s: %w", s.Name(), ctx.Err())
		case <-tick.C:
		}
		// Progress costs a look at /proc (or an engine command): once a second.
		if time.Since(checked) < time.Second {
			continue
		}
		checked = time.Now()
		if p := s.progress(); p != last {
			last, progress = p, time.Now()
		}
		if idle := time.Since(progress); idle > stall {
			return infofile.Info{}, fmt.Errorf("%s wrote no info file %s and made no progress for %s (it runs, but uses no CPU time): %w; it printed:\n%s",
				s.Name(), file, idle.Round(time.Second), os.ErrDeadlineExceeded, shell.Indent(shell.Tail(s.Output(), 15)))
		}
	}
}

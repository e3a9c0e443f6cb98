package runenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/progress"
	"github.com/isolab/isolab/internal/shell"
)

// WaitInfo waits until s has written its info file, file, completely (see
// infofile.Follower: four lines, whether the server writes them at once or
// one by one), and returns what it holds. It follows the server's
// progress, not the clock: it fails at once when the server exits without
// the file, when the file is complete but malformed, and when the server
// has made no progress for stall (0 means the server's own limit: its
// guest's LAB_VM_STALL, else progress.DefaultStall); each error names the
// server and quotes the last lines it printed.
func WaitInfo(ctx context.Context, s Server, file string, stall time.Duration) (infofile.Info, error) {
	if stall <= 0 {
		stall = s.stall()
	}
	f := infofile.Follow(file)
	var info infofile.Info
	err := progress.Wait{
		Done: func() (ok bool, err error) {
			info, ok, err = f.Complete(closed(s.Done()))
			return ok, err
		},
		Gone:     s.Done(),
		Progress: s.progress,
		Stall:    stall,
		// Progress costs a look at /proc (or an engine command).
		Sample: time.Second,
	}.Run(ctx)
	if err == nil {
		return info, nil
	}
	if errors.Is(err, progress.ErrGone) {
		return info, fmt.Errorf("%s %s before writing its info file %s; %s", s.Name(), s.ended(), file, s.lastLines())
	}
	if idle, ok := progress.Stalled(err); ok {
		return info, fmt.Errorf("%s wrote no complete info file %s: it runs, but for %s %s: %w; %s",
			s.Name(), file, idle.Round(time.Second), s.progressKind(), os.ErrDeadlineExceeded, s.lastLines())
	}
	if ctx.Err() != nil {
		return info, fmt.Errorf("%s: %w", s.Name(), err)
	}
	return info, fmt.Errorf("%s wrote its info file %s, but not as the exercise says: %w", s.Name(), file, err)
}

// printed is a process's or container's last lines, for errors.
func printed(out string) string {
	if out == "" {
		return "it printed nothing"
	}
	return "it printed:\n" + shell.Indent(shell.Tail(out, 15))
}

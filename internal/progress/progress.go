package progress

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// DefaultStall is how long a program may make no progress at all before a
// wait gives up on it. A program that still advances is still coming,
// however slow the machine: under TCG on a busy machine a guest's boot
// took 30 s and more, its console advancing every second or so.
const DefaultStall = 60 * time.Second

// ErrGone is wrapped by Wait's error when the program ended first.
var ErrGone = errors.New("it ended")

// StallError is Wait's error after a stall. It wraps
// os.ErrDeadlineExceeded, as a deadline's error would.
type StallError struct {
	Idle time.Duration // how long there was no progress
}

func (e *StallError) Error() string {
	return fmt.Sprintf("no progress for %s", e.Idle.Round(time.Second))
}

func (e *StallError) Unwrap() error { return os.ErrDeadlineExceeded }

// Stalled reports whether err is (or wraps) a StallError, and its idle time.
func Stalled(err error) (time.Duration, bool) {
	var se *StallError
	if errors.As(err, &se) {
		return se.Idle, true
	}
	return 0, false
}

// Wait is one wait for a condition while a program works towards it.
type Wait struct {
	// Done reports whether the condition holds; an error ends the wait at
	// once with that error. It is asked every Poll, and once more when
	// Gone closes (what a program did just before it ended counts).
	Done func() (bool, error)
	// Gone, when not nil, is closed once the program has ended.
	Gone <-chan struct{}
	// Progress returns a number that changes while the program does
	// something (CPU time, bytes written); nil means no stall is detected.
	Progress func() int64
	// Stall is how long Progress may stay the same; 0 means DefaultStall.
	Stall time.Duration
	// Poll is how often Done is asked (0: 20 ms). Sample is how often
	// Progress is (0: Poll), for a Progress that costs a look at /proc or
	// an engine command.
	Poll, Sample time.Duration
}

// Run waits until w.Done holds. It returns an error wrapping ErrGone when
// Gone closes first, a *StallError when Progress stood still for Stall,
// and the context's error when ctx ends.
func (w Wait) Run(ctx context.Context) error {
	poll, sample, stall := w.Poll, w.Sample, w.Stall
	if poll <= 0 {
		poll = 20 * time.Millisecond
	}
	if sample <= 0 {
		sample = poll
	}
	if stall <= 0 {
		stall = DefaultStall
	}
	var last int64
	if w.Progress != nil {
		last = w.Progress()
	}
	moved, sampled := time.Now(), time.Now()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		if ok, err := w.Done(); err != nil || ok {
			return err
		}
		select {
		case <-w.Gone:
			if ok, err := w.Done(); err != nil || ok {
				return err
			}
			return ErrGone
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if w.Progress == nil || time.Since(sampled) < sample {
			continue
		}
		sampled = time.Now()
		if p := w.Progress(); p != last {
			last, moved = p, time.Now()
		}
		if idle := time.Since(moved); idle > stall {
			return &StallError{Idle: idle}
		}
	}
}

// Until is Wait{Done: done, Gone: gone, Progress: progress, Stall: stall}.Run(ctx)
// for a condition that cannot fail.
func Until(ctx context.Context, done func() bool, gone <-chan struct{}, progress func() int64, stall time.Duration) error {
	return Wait{Done: func() (bool, error) { return done(), nil }, Gone: gone, Progress: progress, Stall: stall}.Run(ctx)
}

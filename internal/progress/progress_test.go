package progress

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

func TestDone(t *testing.T) {
	var n atomic.Int32
	err := Wait{Done: func() (bool, error) { return n.Add(1) == 3, nil }, Poll: time.Millisecond}.Run(context.Background())
	if err != nil || n.Load() != 3 {
		t.Fatalf("Run = %v after %d polls, want nil after 3", err, n.Load())
	}
}

func TestDoneError(t *testing.T) {
	bad := errors.New("bad file")
	if err := (Wait{Done: func() (bool, error) { return false, bad }}).Run(context.Background()); err != bad {
		t.Fatalf("Run = %v, want %v", err, bad)
	}
}

func TestGone(t *testing.T) {
	gone := make(chan struct{})
	close(gone)
	err := Until(context.Background(), func() bool { return false }, gone, nil, 0)
	if !errors.Is(err, ErrGone) {
		t.Fatalf("Run = %v, want ErrGone", err)
	}
}

// What the program did just before it ended counts.
func TestGoneAfterDone(t *testing.T) {
	gone := make(chan struct{})
	var ended atomic.Bool
	go func() { ended.Store(true); close(gone) }()
	<-gone
	if err := Until(context.Background(), ended.Load, gone, nil, 0); err != nil {
		t.Fatalf("Run = %v, want nil: the condition held when it ended", err)
	}
}

func TestStall(t *testing.T) {
	start := time.Now()
	err := Until(context.Background(), func() bool { return false }, nil, func() int64 { return 7 }, 50*time.Millisecond)
	if idle, ok := Stalled(err); !ok || idle < 50*time.Millisecond || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Run = %v, want a StallError of 50ms or more, wrapping os.ErrDeadlineExceeded", err)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("gave up after %s, before the stall of 50ms", took)
	}
}

// A program that keeps advancing is waited for past any stall limit.
func TestProgressKeepsWaiting(t *testing.T) {
	var p atomic.Int64
	deadline := time.Now().Add(200 * time.Millisecond)
	err := Until(context.Background(), func() bool { return time.Now().After(deadline) }, nil,
		func() int64 { return p.Add(1) }, 30*time.Millisecond)
	if err != nil {
		t.Fatalf("Run = %v, want nil: it advanced all along", err)
	}
}

func TestContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Until(ctx, func() bool { return false }, nil, nil, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}

package lab

import (
	"context"
	"errors"

	"github.com/isolab/isolab/client"
)

// Measurement is what one lab run saw: the servers as they were started, and
// what the client on the host made of them.
type Measurement struct {
	State  *State        // the servers: command lines, addresses, expected report
	Result client.Result // the client's -json output
}

// Measure stands the lab up, runs the client once, and tears everything down,
// as Verify does, but returns what the client saw instead of judging it. It
// fails when a server did not start or did not exit 0, when the client failed,
// and when anything was left behind.
func (l *Lab) Measure(ctx context.Context) (m *Measurement, err error) {
	st, err := l.Up(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if derr := l.down(context.WithoutCancel(ctx), st, l.envs); derr != nil {
			m, err = nil, errors.Join(err, derr)
		}
	}()
	res, err := l.runClient(ctx)
	if err != nil {
		return nil, err
	}
	return &Measurement{State: st, Result: res}, nil
}

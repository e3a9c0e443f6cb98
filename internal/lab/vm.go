package lab

import (
	"context"
	"errors"
)

func (l *Lab) detectVM(ctx context.Context, e *environments) error {
	return errors.New("vm: pending")
}

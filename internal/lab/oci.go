package lab

import "context"

func (l *Lab) detectOCI(ctx context.Context, e *environments) error { return nil }
func (l *Lab) detectApptainer(ctx context.Context, e *environments) {}
func (l *Lab) detectVM(ctx context.Context, e *environments) error  { return nil }

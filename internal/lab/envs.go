package lab

import (
	"context"
	"fmt"

	"github.com/isolab/isolab/internal/scenario"
)

// environments is what this machine can run, and a backend for each.
type environments struct {
	engine      scenario.Env            // OCI engine for docker/podman servers; "" when none is needed
	unavailable map[scenario.Env]string // environments left out, and why
	backends    map[scenario.Env]backend
	prepares    []func(context.Context) error // image builds before the first start
}

// detect decides which environments the servers need and whether each can run.
// A missing OCI engine is an error (the scenario asks for it); a missing
// Apptainer leaves its servers out with a note, as the lab issue asks.
func (l *Lab) detect(ctx context.Context, servers []scenario.Server) (*environments, error) {
	e := &environments{unavailable: map[scenario.Env]string{}, backends: map[scenario.Env]backend{}}
	e.backends[scenario.EnvHost] = newHostBackend(l)
	need := map[scenario.Env]bool{}
	for _, s := range servers {
		need[s.Env] = true
	}
	if need[scenario.EnvDocker] || need[scenario.EnvPodman] {
		if err := l.detectOCI(ctx, e); err != nil {
			return nil, err
		}
	}
	if need[scenario.EnvApptainer] {
		l.detectApptainer(ctx, e)
	}
	if need[scenario.EnvUnshare] {
		if err := l.detectUnshare(e); err != nil {
			return nil, err
		}
	}
	if need[scenario.EnvVM] {
		if err := l.detectVM(ctx, e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *environments) backend(env scenario.Env) backend {
	if b, ok := e.backends[env]; ok {
		return b
	}
	return missingBackend(env)
}

func (e *environments) prepare(ctx context.Context) error {
	for _, p := range e.prepares {
		if err := p(ctx); err != nil {
			return err
		}
	}
	return nil
}

// missingBackend fails every call: the environment was not detected.
type missingBackend scenario.Env

func (m missingBackend) Start(context.Context, *Running) error {
	return fmt.Errorf("no backend for environment %q", string(m))
}

func (m missingBackend) Stop(context.Context, *Running) (int, error) {
	return -1, fmt.Errorf("no backend for environment %q", string(m))
}

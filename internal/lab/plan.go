package lab

import (
	"fmt"
	"os"
	"slices"

	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/scenario"
)

// Plan loads the scenario (Config.Scenario, else $LAB_SCENARIO, else the
// default), gives its Docker or Podman servers the engine this run uses, and
// leaves out its Apptainer servers where Apptainer is not installed, saying
// so. Another environment whose program is missing fails, naming the
// package to install.
func (l *Lab) Plan() (*scenario.Scenario, []scenario.Server, error) {
	sc, err := l.loadScenario()
	if err != nil {
		return nil, nil, err
	}
	servers := sc.Servers
	if uses(servers, scenario.EnvDocker) || uses(servers, scenario.EnvPodman) {
		k, err := l.ociEngine()
		if err != nil {
			return nil, nil, err
		}
		if servers, err = scenario.UseEngine(servers, scenario.Env(k)); err != nil {
			return nil, nil, err
		}
	}
	unavailable := map[scenario.Env]string{}
	for _, env := range scenario.Envs {
		if !uses(servers, env) {
			continue
		}
		err := runenv.Installed(runenv.Kind(env))
		switch {
		case err == nil:
		case env == scenario.EnvApptainer:
			unavailable[env] = err.Error()
		default:
			return nil, nil, fmt.Errorf("the scenario has a %s server: %w", env, err)
		}
	}
	kept, dropped := scenario.Filter(servers, unavailable)
	for _, d := range dropped {
		l.Printf("%s", d)
	}
	if len(kept) == 0 {
		return nil, nil, fmt.Errorf("scenario %s: no server can run here", sc.File)
	}
	return sc, kept, nil
}

func uses(servers []scenario.Server, env scenario.Env) bool {
	return slices.ContainsFunc(servers, func(s scenario.Server) bool { return s.Env == env })
}

// loadScenario is Config.Scenario, validated and allocated, else the file
// $LAB_SCENARIO names, else the default.
func (l *Lab) loadScenario() (*scenario.Scenario, error) {
	if l.Scenario == nil {
		return scenario.Load(os.Getenv(VarScenario))
	}
	sc := *l.Scenario
	sc.Servers = slices.Clone(sc.Servers)
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, sc.Allocate()
}

// ociEngine is the engine for Docker and Podman servers: Config.Engine, else
// $LAB_ENGINE, else Docker when it is installed, else Podman
// (runenv.ContainerEngine).
func (l *Lab) ociEngine() (runenv.Kind, error) {
	name := string(l.Engine)
	if name == "" {
		name = os.Getenv(VarEngine)
	}
	k, err := runenv.ContainerEngine(name)
	if err != nil {
		return "", fmt.Errorf("the scenario has container servers (%s=%q): %w", VarEngine, name, err)
	}
	return k, nil
}

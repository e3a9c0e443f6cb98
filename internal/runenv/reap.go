package runenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/isolab/isolab/internal/engine"
	"github.com/isolab/isolab/internal/vm"
)

// Attach rebuilds a Server from its handle, in any process: it needs no
// detection of what is installed, and it finds no server when what the
// handle names has gone (Done is then closed).
func Attach(h Handle) Server {
	switch h.Kind {
	case Docker, Podman:
		return attachContainer(h)
	case VM:
		return attachGuest(h)
	}
	return attachProcess(h)
}

// Reap ends whatever a Runner with cfg started and an interrupted run left
// running, and names each thing it ended: the servers whose handles are
// still in the Runner's directory, containers with the Runner's label (a
// failed start leaves one), and guests whose QEMU still runs.
func Reap(ctx context.Context, cfg Config) []string {
	var reaped []string
	dir := filepath.Join(cfg.Dir, "servers")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		var h Handle
		b, err := os.ReadFile(f)
		if err == nil && json.Unmarshal(b, &h) == nil {
			if s := Attach(h); s.running() {
				s.Kill()
				reaped = append(reaped, fmt.Sprintf("%s server %s (%s)", h.Kind, h.Name, describe(h)))
			}
		}
		os.Remove(f)
	}
	for _, k := range []Kind{Docker, Podman} {
		r := New(cfg)
		eng, err := r.engineFor(k)
		if err != nil || cfg.Label == "" {
			continue
		}
		if k == Docker && eng.Ping(ctx) != nil {
			continue // no dockerd, so no container of it runs
		}
		gone, _ := eng.RemoveAll(ctx, labelKey+"="+cfg.Label)
		for _, id := range gone {
			reaped = append(reaped, fmt.Sprintf("%s container %s", k, shortID(id)))
		}
	}
	pids, _ := filepath.Glob(filepath.Join(cfg.Dir, "vm", "*.pid"))
	for _, pf := range pids {
		name := strings.TrimSuffix(filepath.Base(pf), ".pid")
		m := vm.New(vm.Config{Name: name, RunDir: filepath.Dir(pf)})
		if pid, ok := m.PID(); ok {
			reaped = append(reaped, fmt.Sprintf("VM %s (QEMU pid %d)", name, pid))
		}
		m.Kill()
	}
	return reaped
}

func describe(h Handle) string {
	switch {
	case h.Container != "":
		return "container " + shortID(h.Container)
	case h.PID > 0:
		return fmt.Sprintf("pid %d", h.PID)
	}
	return "not started"
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Installed reports whether the program an environment needs is installed,
// and if not, which Debian package (or project) provides it.
func Installed(k Kind) error {
	switch k {
	case Host:
		return nil
	case Docker:
		// A run starts a dockerd of its own: the daemon must be there too,
		// not only the client.
		if _, err := exec.LookPath("dockerd"); err != nil {
			return fmt.Errorf("dockerd %w (try: %s)", engine.ErrNotInstalled, engine.Docker.Package())
		}
		fallthrough
	case Podman, Apptainer:
		_, err := engine.New(engine.Kind(k))
		return err
	}
	need, ok := map[Kind][2]string{Unshare: {"unshare", "util-linux"}, VM: {"qemu-system-x86_64", "qemu-system-x86"}}[k]
	if !ok {
		return fmt.Errorf("unknown environment %q", k)
	}
	if _, err := exec.LookPath(need[0]); err != nil {
		return fmt.Errorf("%s %w (try: apt-get install %s)", need[0], engine.ErrNotInstalled, need[1])
	}
	return nil
}

// ContainerEngine is the engine that runs Docker and Podman servers: name
// when it is set (docker or podman: a user's LAB_ENGINE), else Docker when
// it is installed, dockerd included (a run starts a dockerd of its own),
// else Podman.
func ContainerEngine(name string) (Kind, error) {
	switch k := Kind(name); k {
	case "":
	case Docker, Podman:
		return k, Installed(k)
	default:
		return "", fmt.Errorf("container engine %q: want docker or podman", name)
	}
	docker := Installed(Docker)
	if docker == nil {
		return Docker, nil
	}
	if Installed(Podman) == nil {
		return Podman, nil
	}
	return "", fmt.Errorf("no container engine: %w (or: apt-get install podman)", docker)
}

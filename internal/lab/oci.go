package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isolab/isolab/internal/engine"
	"github.com/isolab/isolab/internal/scenario"
)

// stopTimeout is how long an engine waits after SIGTERM before SIGKILL.
const stopTimeout = 5 * time.Second

// ociBackend runs servers in Docker or Podman containers of the FROM-scratch
// image built from images/Dockerfile.
type ociBackend struct {
	lab   *Lab
	eng   *engine.Engine
	image string // filled by build
}

// detectOCI picks the engine (Config.Engine, else $LAB_ENGINE, else Docker when
// its daemon answers, else Podman) or fails with one line naming what to
// install or start.
func (l *Lab) detectOCI(ctx context.Context, e *environments) error {
	eng, err := l.ociEngine(ctx)
	if err != nil {
		return err
	}
	eng.Log = l.engineLog()
	b := &ociBackend{lab: l, eng: eng}
	e.engine = scenario.Env(eng.Kind)
	e.backends[e.engine] = b
	e.prepares = append(e.prepares, b.build)
	return nil
}

func (l *Lab) ociEngine(ctx context.Context) (*engine.Engine, error) {
	if l.Engine == "" {
		return engine.Detect(ctx)
	}
	eng, err := engine.New(l.Engine)
	if err != nil {
		return nil, err
	}
	return eng, eng.Ping(ctx)
}

// engineLog is where engine command lines and build output go: the terminal
// with -v, else logs/engine.log.
func (l *Lab) engineLog() io.Writer {
	if l.Verbose {
		return l.Out
	}
	if err := os.MkdirAll(l.LogDir(), 0o755); err != nil {
		return io.Discard
	}
	f, err := os.OpenFile(filepath.Join(l.LogDir(), "engine.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return io.Discard
	}
	return f // stays open for the life of the process, like a logger
}

// build makes the image unless one with the same Dockerfile and binary exists,
// and removes lab containers an interrupted run left.
func (b *ociBackend) build(ctx context.Context) error {
	var img engine.Image
	err := b.lab.Step(fmt.Sprintf("%s image", b.eng.Kind), func() error {
		var err error
		img, err = b.eng.Build(ctx, engine.BuildSpec{
			Repo:    "localhost/isolab-server",
			File:    filepath.Join(b.lab.Root, "images", "Dockerfile"),
			Context: b.lab.BinDir(),
			Inputs:  []string{"server"},
		})
		return err
	})
	if err != nil {
		return err
	}
	b.image = img.Ref
	if img.Built {
		b.lab.Printf("  built %s", img.Ref)
	}
	if gone, err := b.eng.RemoveAll(ctx, b.lab.containerLabel()); err == nil && len(gone) > 0 {
		b.lab.Printf("  removed %d lab container(s) an earlier run left", len(gone))
	}
	return nil
}

// labDirLabel is the label key naming the lab directory a container belongs to.
const labDirLabel = "isolab.lab"

// containerLabel selects the containers of this lab directory only, so two labs
// (two test packages, a test and a user's lab) never reap each other's. Every
// lab container also carries engine.Label, which scripts/netns-run reaps.
func (l *Lab) containerLabel() string { return labDirLabel + "=" + l.id() }

// id names this lab directory in container names and labels.
func (l *Lab) id() string {
	sum := sha256.Sum256([]byte(l.Dir))
	return hex.EncodeToString(sum[:4])
}

// spec is the least-privileged run of r: read-only, no capabilities, no new
// privileges, the host user's uid:gid, the shared directory at the same path.
func (b *ociBackend) spec(r *Running) engine.Spec {
	opts := []engine.Option{
		engine.WithUser(os.Getuid(), os.Getgid()),
		engine.WithSharedDir(b.lab.SharedDir()),
		engine.WithIPC(string(r.EffectiveIPC())),
		engine.WithNetwork(string(r.EffectiveNetwork())),
		engine.WithLabel(labDirLabel, b.lab.id()),
		engine.WithContainerName(engine.NamePrefix + b.lab.id() + "-" + r.Name),
		engine.WithEngineFlags(r.ExtraArgs...),
		engine.WithArgs(serverArgs(r)...),
	}
	if b.eng.Kind == engine.Podman {
		opts = append(opts, engine.WithUlimits(engine.HostUlimits()...))
	}
	return engine.NewSpec(b.eng.Kind, r.Name, b.image, opts...)
}

func (b *ociBackend) Start(ctx context.Context, r *Running) error {
	s := b.spec(r)
	argv, err := s.Argv()
	if err != nil {
		return err
	}
	r.Argv, r.Engine = argv, string(b.eng.Kind)
	if err := os.WriteFile(r.Log, []byte("+ "+engine.Quote(argv)+"\n"), 0o644); err != nil {
		return err
	}
	id, err := b.eng.Run(ctx, s)
	if err != nil {
		return err
	}
	r.Container = id
	return nil
}

// Stop sends SIGTERM through the engine, collects the exit status and the
// container's output into its log, and removes the container.
func (b *ociBackend) Stop(ctx context.Context, r *Running) (int, error) {
	if r.Container == "" {
		return -1, nil
	}
	stopErr := b.eng.Stop(ctx, stopTimeout, r.Container)
	code := -1
	if st, err := b.eng.Inspect(ctx, r.Container); err == nil {
		code = st.ExitCode
	}
	logErr := b.appendLogs(ctx, r)
	if err := b.eng.Remove(ctx, r.Container); err != nil {
		return code, err
	}
	if stopErr != nil {
		return code, stopErr
	}
	return code, logErr
}

// appendLogs adds the container's output after the command line in its log.
func (b *ociBackend) appendLogs(ctx context.Context, r *Running) error {
	tmp := r.Log + ".container"
	defer os.Remove(tmp)
	if err := b.eng.Logs(ctx, r.Container, tmp); err != nil {
		return err
	}
	out, err := os.ReadFile(tmp)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(r.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(out)
	return errors.Join(err, f.Close())
}

// Reap removes every container with the lab's label.
func (b *ociBackend) Reap(ctx context.Context) []string {
	gone, _ := b.eng.RemoveAll(ctx, b.lab.containerLabel())
	var leaks []string
	for _, id := range gone {
		leaks = append(leaks, fmt.Sprintf("%s container %s", b.eng.Kind, shortID(id)))
	}
	return leaks
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// detectApptainer makes an Apptainer backend when the binary is present, and
// otherwise leaves Apptainer servers out with the reason.
func (l *Lab) detectApptainer(ctx context.Context, e *environments) {
	eng, err := engine.New(engine.Apptainer)
	if err != nil {
		e.unavailable[scenario.EnvApptainer] = err.Error()
		return
	}
	eng.Log = l.engineLog()
	a := &apptainerBackend{hostBackend: newHostBackend(l), eng: eng}
	a.hostBackend.argv = a.argv
	e.backends[scenario.EnvApptainer] = a
	e.prepares = append(e.prepares, a.build)
}

// apptainerBackend runs `apptainer exec` as a host process: Apptainer keeps no
// daemon or container list, so the process is the container.
type apptainerBackend struct {
	*hostBackend
	eng   *engine.Engine
	image string
}

func (a *apptainerBackend) build(ctx context.Context) error {
	return a.lab.Step("apptainer image", func() error {
		img, err := a.eng.Build(ctx, engine.BuildSpec{
			Repo:    filepath.Join(a.lab.Dir, "isolab-server"),
			File:    filepath.Join(a.lab.Root, "images", "server.def"),
			Context: a.lab.Root,
			Inputs:  []string{filepath.Join("bin", "server")},
		})
		a.image = img.Ref
		return err
	})
}

// argv is `apptainer exec` with --ipc, unless the scenario shares the host's
// IPC namespace; with --drop-caps CAP_SYS_RESOURCE as root (needed where root
// lacks that capability), and $LAB_APPTAINER_FLAGS.
func (a *apptainerBackend) argv(r *Running) ([]string, error) {
	opts := []engine.Option{
		engine.WithSharedDir(a.lab.SharedDir()),
		engine.WithIPC(string(r.EffectiveIPC())),
		engine.WithEngineFlags(append(strings.Fields(os.Getenv(EnvApptainer)), r.ExtraArgs...)...),
		engine.WithArgs(serverArgs(r)...),
	}
	if r.Containall {
		opts = append(opts, engine.WithContainAll())
	}
	if r.EffectiveNetwork() != scenario.NetworkHost {
		opts = append(opts, engine.WithNetwork(string(r.EffectiveNetwork())))
	}
	if os.Geteuid() == 0 {
		opts = append(opts, engine.WithDropCaps("CAP_SYS_RESOURCE"))
	}
	return engine.NewSpec(engine.Apptainer, r.Name, a.image, opts...).Argv()
}

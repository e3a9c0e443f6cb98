package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/engine"
)

// sessionLabel marks every container of one ContainerEnv session, so that
// Close removes whatever a failed start left.
const sessionLabel = "isolab.conformance"

// ContainerEnv runs each server in a Docker or Podman container of the
// FROM-scratch image of images/Dockerfile, with the server binary baked in
// (one image per binary), least-privileged as the lab runs its containers:
// read-only, no capabilities, no new privileges, the host user's uid:gid,
// podman given this process's ulimits. Each has its own IPC namespace and a
// network namespace on the engine's bridge, where it picks its own address (no
// -ip), and the session's directory is bound at the same path. A client on
// the host reaches its socket, not its segment: class Container.
//
// Clients and the harness's probes run in this process's network namespace,
// where the engine's bridge is; Open refuses (ErrUnavailable) when that
// namespace has a default route, since an implementation's client could then
// reach out of the machine. Run it under scripts/netns-run --dockerd.
type ContainerEnv struct {
	Engine     *engine.Engine // the engine; nil means engine.Detect at Open
	Dockerfile string         // images/Dockerfile of the repository
}

// Name is the engine's kind (docker, podman), or "container" before one is known.
func (c ContainerEnv) Name() string {
	if c.Engine == nil {
		return "container"
	}
	return string(c.Engine.Kind)
}

// Open checks that the network namespace is isolated and the engine answers.
func (c ContainerEnv) Open(ctx context.Context, workDir string, logf func(string, ...any)) (Session, error) {
	if err := isolated(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var eng engine.Engine
	if c.Engine != nil {
		eng = *c.Engine
	} else {
		e, err := engine.Detect(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		eng = *e
	}
	if eng.Kind != engine.Docker && eng.Kind != engine.Podman {
		return nil, fmt.Errorf("%w: %s keeps no detached containers", ErrUnavailable, eng.Kind)
	}
	if c.Dockerfile == "" {
		return nil, errors.New("container environment: no Dockerfile")
	}
	name := string(eng.Kind)
	dir := filepath.Join(workDir, name)
	if err := errors.Join(os.MkdirAll(dir, 0o755), os.MkdirAll(filepath.Join(workDir, "logs"), 0o755)); err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(workDir, "logs", name+"-engine.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	eng.Log = log
	id := make([]byte, 4)
	rand.Read(id)
	s := &containerSession{
		eng: &eng, dockerfile: c.Dockerfile, dir: dir, images: filepath.Join(workDir, name+"-images"),
		id: hex.EncodeToString(id), logf: logf, log: log, imgs: map[imageKey]*ctrImage{},
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return s, nil
}

// isolated fails unless the network namespace where this process's clients
// run has no IPv4 default route. It reads /proc/thread-self/net/route, not
// /proc/net/route: that one shows the main thread's namespace, and a HostEnv
// session may have left the main thread in its lo-only namespace (the Go
// runtime never ends the main thread, even when a goroutine locked to it
// ends), while every thread not locked stays where the process started.
func isolated() error {
	b, err := os.ReadFile("/proc/thread-self/net/route")
	if err != nil {
		return fmt.Errorf("cannot tell whether this network namespace is isolated: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		if f := strings.Fields(l); len(f) >= 8 && f[1] == "00000000" && f[7] == "00000000" {
			return fmt.Errorf("not isolated: this network namespace has a default route (via %s), so an implementation's client could reach out of the machine (run under scripts/netns-run --dockerd)", f[0])
		}
	}
	return nil
}

type containerSession struct {
	eng        *engine.Engine
	dockerfile string
	dir        string // Dir
	images     string // the images' build contexts
	id         string // this session's label value and container-name part
	logf       func(string, ...any)
	log        *os.File // the engine's command lines
	ctx        context.Context
	cancel     context.CancelFunc

	mu    sync.Mutex
	imgs  map[imageKey]*ctrImage
	procs []*containerProc
	seq   int
}

// imageKey is a server binary, and whether it is isolab's.
type imageKey struct {
	bin      string
	confined bool
}

// ctrImage is the image of one server binary, built once.
type ctrImage struct {
	once sync.Once
	ref  string
	temp bool // removed at Close (an implementation's; isolab's stays cached)
	err  error
}

func (s *containerSession) Dir() string               { return s.dir }
func (s *containerSession) Reach() (shm, socket bool) { return false, true }

// Client runs f as it is: the client shares this process's network namespace,
// where the engine's bridge is.
func (s *containerSession) Client(f func() error) error { return f() }

// image builds the image of spec's binary on first use. isolab's (Confined)
// goes to one repository whose hash tag keeps it cached between runs; another
// implementation's goes to a repository of this session and is removed at
// Close, so that concurrent runs never prune each other's images.
func (s *containerSession) image(ctx context.Context, spec ServerSpec) (string, error) {
	s.mu.Lock()
	k := imageKey{spec.Bin, spec.Confined}
	im := s.imgs[k]
	if im == nil {
		im = &ctrImage{temp: !spec.Confined}
		s.imgs[k] = im
	}
	n := len(s.imgs)
	s.mu.Unlock()
	im.once.Do(func() {
		repo := "localhost/isolab-conformance"
		if im.temp {
			repo += "-" + s.id
		}
		ctxDir := filepath.Join(s.images, strconv.Itoa(n))
		defer os.RemoveAll(ctxDir)
		start := time.Now()
		bin := filepath.Join(ctxDir, "server")
		if im.err = errors.Join(os.MkdirAll(ctxDir, 0o755), copyFile(spec.Bin, bin), os.Chmod(bin, 0o755)); im.err != nil {
			return
		}
		var img engine.Image
		img, im.err = s.eng.Build(ctx, engine.BuildSpec{Repo: repo, File: s.dockerfile, Context: ctxDir, Inputs: []string{"server"}})
		im.ref = img.Ref
		if img.Built {
			s.logf("%s: built image %s of %s (%s)", s.eng.Kind, img.Ref, spec.Bin, time.Since(start).Round(10*time.Millisecond))
		}
	})
	return im.ref, im.err
}

func (s *containerSession) StartServer(ctx context.Context, spec ServerSpec) (Process, error) {
	ref, err := s.image(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("image for %s: %w", spec.Name, err)
	}
	s.mu.Lock()
	s.seq++
	name := fmt.Sprintf("conformance-%s-%d", s.id, s.seq)
	s.mu.Unlock()
	opts := []engine.Option{
		engine.WithUser(os.Getuid(), os.Getgid()),
		engine.WithSharedDir(s.dir),
		engine.WithIPC(engine.IPCPrivate),
		engine.WithNetwork(engine.NetworkBridge),
		engine.WithLabel(sessionLabel, s.id),
		engine.WithArgs(spec.Args...),
	}
	if s.eng.Kind == engine.Podman {
		opts = append(opts, engine.WithUlimits(engine.HostUlimits()...))
	}
	es := engine.NewSpec(s.eng.Kind, name, ref, opts...)
	argv, err := es.Argv()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(spec.Log, []byte("+ "+engine.Quote(argv)+"\n"), 0o644); err != nil {
		return nil, err
	}
	id, err := s.eng.Run(ctx, es)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &containerProc{s: s, id: id, log: spec.Log, done: make(chan struct{}), code: -1}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	go p.wait()
	return p, nil
}

// Close stops the containers still running, removes every container of the
// session and the images of other implementations.
func (s *containerSession) Close() error {
	defer s.log.Close()
	defer s.cancel()
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	var errs []error
	var running []string
	for _, p := range procs {
		if !exited(p) {
			running = append(running, p.id)
		}
	}
	if err := s.eng.Stop(s.ctx, 2*time.Second, running...); err != nil {
		errs = append(errs, err)
	}
	for _, p := range procs {
		<-p.done
	}
	left, err := s.eng.RemoveAll(s.ctx, sessionLabel+"="+s.id)
	if len(left) > 0 {
		s.logf("%s: removed %d container(s) a failed start left", s.eng.Kind, len(left))
	}
	errs = append(errs, err)
	var temp []string
	for _, im := range s.imgs {
		if im.temp && im.ref != "" {
			temp = append(temp, im.ref)
		}
	}
	if len(temp) > 0 {
		argv, _ := engine.RemoveImagesArgv(s.eng.Kind, temp...)
		fmt.Fprintf(s.log, "$ %s\n", engine.Quote(argv))
		cmd := exec.CommandContext(s.ctx, s.eng.Path, argv[1:]...)
		cmd.Stdout, cmd.Stderr = s.log, s.log
		if err := cmd.Run(); err != nil {
			errs = append(errs, fmt.Errorf("remove images %s: %w", strings.Join(temp, " "), err))
		}
	}
	os.RemoveAll(s.images)
	err = errors.Join(errs...)
	if err != nil {
		s.logf("%s: close: %v", s.eng.Kind, err)
	}
	return err
}

// containerProc is a server container, removed once it has exited.
type containerProc struct {
	s    *containerSession
	id   string
	log  string
	done chan struct{}
	code int    // set before done closes
	out  string // its output (stdout and stderr), set before done closes
}

// wait waits for the container to exit (`docker wait` prints its exit status;
// the engine package has no argv for it), appends its output to its log and
// removes it.
func (p *containerProc) wait() {
	defer close(p.done)
	ctx := p.s.ctx
	argv := []string{string(p.s.eng.Kind), "wait", p.id}
	fmt.Fprintf(p.s.log, "$ %s\n", engine.Quote(argv))
	out, err := exec.CommandContext(ctx, p.s.eng.Path, argv[1:]...).Output()
	if err == nil {
		if c, cerr := strconv.Atoi(strings.TrimSpace(string(out))); cerr == nil {
			p.code = c
		}
	}
	tmp := p.log + ".container"
	if err := p.s.eng.Logs(ctx, p.id, tmp); err == nil {
		b, _ := os.ReadFile(tmp)
		p.out = string(b)
	}
	os.Remove(tmp)
	if f, err := os.OpenFile(p.log, os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "%s+ exit status %d\n", p.out, p.code)
		f.Close()
	}
	if err := p.s.eng.Remove(ctx, p.id); err != nil {
		fmt.Fprintf(p.s.log, "remove container %s: %v\n", p.id, err)
	}
}

func (p *containerProc) Done() <-chan struct{} { return p.done }
func (p *containerProc) ExitCode() int         { <-p.done; return p.code }
func (p *containerProc) Stdout() string        { return "" }

// Stderr is the container's whole output once it has exited (the engine
// merges the two streams in its log), else "".
func (p *containerProc) Stderr() string {
	if !exited(p) {
		return ""
	}
	return p.out
}

// Stop wraps engine.Stop: SIGTERM, SIGKILL after grace.
func (p *containerProc) Stop(grace time.Duration) bool {
	if exited(p) {
		return false
	}
	if err := p.s.eng.Stop(p.s.ctx, grace, p.id); err != nil {
		fmt.Fprintf(p.s.log, "%v\n", err)
	}
	<-p.done
	return true
}

// Kill stops the container with no grace (the engine sends SIGTERM, then
// SIGKILL at once).
func (p *containerProc) Kill() { p.Stop(0) }

package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/isolab/isolab/internal/vm"
	"github.com/isolab/isolab/internal/vm/guestinit"
)

// vmReadyTimeout bounds a guest's boot to its server's info file. One boot
// takes about 5 s under TCG on 2 cores; a cell boots its servers' guests
// at once, and the run's cells at once too.
const vmReadyTimeout = 90 * time.Second

// VMEnv runs each server in a QEMU guest of its own, booted from the lab's
// cached image (internal/vm) with the server binary copied into the session's
// directory, which the guest mounts at the same path over 9p and runs the
// binary from (lab.bin=): one image serves every implementation. The guest's
// network is QEMU's user network with restrict=on and no port forwarded, and
// it has its own kernel: a client on the host reaches neither channel of its
// server, class VM. Stopping a server powers its guest off (Ctrl-Alt-Del:
// SIGTERM to the server); the guest writes the server's exit status to a file
// in the session's directory (lab.status=) before it powers off.
//
// Open refuses (ErrUnavailable) outside a network namespace without a default
// route: the clients probe the guests' address, 10.0.2.15.
type VMEnv struct {
	Image vm.Image // the cached image (vm.ImageAt, checked with vm.Cached)
	Accel vm.Accel // "" means vm.DetectAccel
}

// Name is "vm".
func (VMEnv) Name() string { return "vm" }

// Open checks isolation and QEMU, and makes the session's directories.
func (v VMEnv) Open(ctx context.Context, workDir string, logf func(string, ...any)) (Session, error) {
	if err := isolated(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := vmTools(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	dir := filepath.Join(workDir, "vm")
	s := &vmSession{
		env: v, dir: dir, bins: filepath.Join(dir, "bin"), status: filepath.Join(dir, "status"),
		run: filepath.Join(workDir, "vm-run"), logf: logf, copies: map[string]*binCopy{},
	}
	os.RemoveAll(dir) // an earlier run's, in the same WorkDir
	for _, d := range []string{s.bins, s.status, s.run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return s, nil
}

// vmTools checks for QEMU.
func vmTools() error {
	for _, tool := range [][2]string{{"qemu-system-x86_64", "qemu-system-x86"}} {
		if _, err := exec.LookPath(tool[0]); err != nil {
			return fmt.Errorf("%s not found (try: apt-get install %s)", tool[0], tool[1])
		}
	}
	return nil
}

// VMImage returns the guest image in imageDir when it is cached for this
// tree's recipe and the lab-init binary init (the lab's bin/lab-init, which
// vm:image builds it with), else an error that says why and how to build it.
func VMImage(root, imageDir, init string) (vm.Image, error) {
	if err := vmTools(); err != nil {
		return vm.Image{}, err
	}
	key, err := vm.ImageKey(filepath.Join(root, "scripts", "vm-image.sh"), init)
	if err != nil {
		return vm.Image{}, fmt.Errorf("%w (try: go tool mage vm:image, outside scripts/netns-run)", err)
	}
	if !vm.Cached(imageDir, key) {
		return vm.Image{}, fmt.Errorf("no VM image in %s for %s and this tree's scripts/vm (try: go tool mage vm:image, outside scripts/netns-run, with the same LAB_DIR)", imageDir, init)
	}
	img := vm.ImageAt(imageDir)
	img.Key = key
	return img, nil
}

type vmSession struct {
	env    VMEnv
	dir    string // Dir: the guests' share
	bins   string // server binaries, under dir
	status string // exit status files, under dir
	run    string // overlays, pid files, sockets, serial logs (not shared)
	logf   func(string, ...any)
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	copies map[string]*binCopy
	procs  []*vmProc
	seq    int
}

// binCopy is one server binary copied onto the share, once.
type binCopy struct {
	once sync.Once
	path string
	err  error
}

func (s *vmSession) Dir() string               { return s.dir }
func (s *vmSession) Reach() (shm, socket bool) { return false, false }

// Client runs f as it is, in this process's network namespace, which Open
// checked has no route out: a connect to a guest fails at once.
func (s *vmSession) Client(f func() error) error { return f() }

// readyTimeout is how long the harness waits for a guest's info file.
func (s *vmSession) readyTimeout() time.Duration { return vmReadyTimeout }

// binary copies bin onto the share on first use.
func (s *vmSession) binary(bin string) (string, error) {
	s.mu.Lock()
	c := s.copies[bin]
	if c == nil {
		c = &binCopy{path: filepath.Join(s.bins, strconv.Itoa(len(s.copies)+1)+"-"+filepath.Base(bin))}
		s.copies[bin] = c
	}
	s.mu.Unlock()
	c.once.Do(func() {
		c.err = errors.Join(copyFile(bin, c.path), os.Chmod(c.path, 0o755))
	})
	return c.path, c.err
}

func (s *vmSession) StartServer(ctx context.Context, spec ServerSpec) (Process, error) {
	bin, err := s.binary(spec.Bin)
	if err != nil {
		return nil, fmt.Errorf("copy %s onto the share: %w", spec.Bin, err)
	}
	s.mu.Lock()
	s.seq++
	name := fmt.Sprintf("vm%d", s.seq)
	s.mu.Unlock()
	log, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	status := filepath.Join(s.status, name)
	m := vm.New(vm.Config{
		Name:         name,
		RunDir:       s.run,
		Image:        s.env.Image,
		SharedDir:    s.dir,
		ServerArgs:   spec.Args,
		ServerBinary: bin,
		StatusFile:   status,
		Accel:        s.env.Accel,
		Log:          &syncWriter{w: log},
	})
	if err := m.Start(ctx); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &vmProc{m: m, log: log, done: make(chan struct{}), code: -1}
	p.pid, _ = m.PID()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	go p.wait(s.ctx)
	return p, nil
}

// Close stops the guests still running and removes their files, the copied
// binaries and the status files.
func (s *vmSession) Close() error {
	defer s.cancel()
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.Stop(0) })
	}
	wg.Wait()
	return errors.Join(os.RemoveAll(s.bins), os.RemoveAll(s.status), os.RemoveAll(s.run))
}

// vmProc is a server in its guest; the guest's QEMU is the process.
type vmProc struct {
	m    *vm.Machine
	pid  int // QEMU's
	log  *os.File
	done chan struct{}
	code int    // set before done closes
	out  string // the server's part of the console, set before done closes

	stopOnce sync.Once
}

// wait waits for QEMU to exit, then reads the server's exit status, copies
// the console to the log and removes the guest's files.
func (p *vmProc) wait(ctx context.Context) {
	defer close(p.done)
	for killed := false; ; {
		if _, ok := p.m.PID(); !ok {
			break
		}
		if ctx.Err() != nil && !killed && p.pid > 0 {
			syscall.Kill(p.pid, syscall.SIGKILL)
			killed = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, err := p.m.ExitStatus()
	serial, _ := os.ReadFile(p.m.SerialLog)
	p.out = serverLines(string(serial))
	if err != nil {
		p.out += fmt.Sprintf("no exit status: the guest ended before its server did (%v)\n", err)
	}
	p.code = code
	if err := p.m.Stop(context.WithoutCancel(ctx)); err != nil {
		fmt.Fprintf(p.log, "%v\n", err)
	}
	fmt.Fprintf(p.log, "--- serial console %s\n%s+ exit status %d\n", p.m.SerialLog, serial, p.code)
	p.log.Close()
	os.Remove(p.m.SerialLog)
	os.Remove(p.m.CommandFile)
	os.Remove(p.m.Config.StatusFile)
}

// serverLines keeps the console's lines from the server's start on, without
// the kernel's and lab-guest's own, for the checks' details.
func serverLines(serial string) string {
	_, after, found := strings.Cut(serial, guestinit.StartLine)
	if !found {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(after, "\n")[1:] {
		l = strings.TrimRight(l, "\r")
		if l == "" || strings.HasPrefix(l, "[") || strings.HasPrefix(l, guestinit.Prefix) {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

func (p *vmProc) Done() <-chan struct{} { return p.done }
func (p *vmProc) ExitCode() int         { <-p.done; return p.code }
func (p *vmProc) Stdout() string        { return "" }

// Stderr is what the server wrote to the guest's console, once it has exited.
func (p *vmProc) Stderr() string {
	if !exited(p) {
		return ""
	}
	return p.out
}

// Stop powers the guest off (vm.Machine.Stop: Ctrl-Alt-Del, so the server gets
// SIGTERM; QEMU killed if it lingers); grace is the guest's to decide.
func (p *vmProc) Stop(time.Duration) bool {
	if exited(p) {
		return false
	}
	p.stopOnce.Do(func() {
		if err := p.m.Stop(context.Background()); err != nil {
			fmt.Fprintf(p.log, "%v\n", err)
		}
	})
	<-p.done
	return true
}

// Kill kills QEMU at once, as a crash of the machine would end it.
func (p *vmProc) Kill() {
	if exited(p) {
		return
	}
	if p.pid > 0 {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
	<-p.done
}

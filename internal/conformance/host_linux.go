package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// HostEnv runs servers as processes on this machine. Every server, client and
// probe of a run shares one network namespace that the run creates, with only
// lo up: servers get -ip 127.0.0.1, and one that picks its own address (from
// gethostname or the default route, as implementations of the exercise do) can
// still bind nothing but loopback. Shared memory and files are the host's.
// Without the namespace (unshare not permitted), only isolab's own servers,
// which honour -ip, run; the others are skipped with the reason.
type HostEnv struct {
	noNetns bool // tests: behave as if unshare were refused
}

// Name is "host".
func (HostEnv) Name() string { return "host" }

// Open creates the run's network namespace.
func (h HostEnv) Open(ctx context.Context, workDir string, logf func(string, ...any)) (Session, error) {
	dir := filepath.Join(workDir, "host")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &hostSession{dir: dir}
	ns, err := newNetns()
	if h.noNetns && err == nil {
		ns.Close()
		ns, err = nil, errors.New("disabled by the test")
	}
	if err != nil {
		s.why = fmt.Sprintf("no network namespace of its own (%v; run as root)", err)
		logf("host: %s: servers that pick their own address are skipped", s.why)
	}
	s.ns = ns
	return s, nil
}

type hostSession struct {
	dir string
	ns  *netns // nil when unshare was refused
	why string // why ns is nil

	mu    sync.Mutex
	procs []*proc
}

func (s *hostSession) Dir() string               { return s.dir }
func (s *hostSession) Reach() (shm, socket bool) { return true, true }

func (s *hostSession) StartServer(ctx context.Context, spec ServerSpec) (Process, error) {
	if s.ns == nil && !spec.Confined {
		return nil, fmt.Errorf("%w: %s, and %s may bind a non-loopback address", ErrSkip, s.why, spec.Name)
	}
	argv := append([]string{spec.Bin}, spec.Args...)
	argv = append(argv, "-ip", "127.0.0.1")
	var p *proc
	err := s.Client(func() (err error) {
		p, err = startProcess(argv, nil, spec.Log)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

func (s *hostSession) Client(f func() error) error {
	if s.ns == nil {
		return f()
	}
	return s.ns.Do(f)
}

// allow keeps the harness's own probes on loopback when there is no namespace
// to contain them.
func (s *hostSession) allow(ip netip.Addr) error {
	if s.ns == nil && !ip.IsLoopback() {
		return fmt.Errorf("%w: %s is not a loopback address and %s", ErrSkip, ip, s.why)
	}
	return nil
}

func (s *hostSession) Close() error {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for _, p := range procs {
		p.Stop(2 * time.Second)
	}
	if s.ns != nil {
		s.ns.Close()
	}
	return nil
}

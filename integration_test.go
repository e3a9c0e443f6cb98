//go:build linux

// Integration tests: the built server and client binaries, run as separate
// processes on 127.0.0.1 (and in namespaces the tests make), checked for the
// exact five lines, exit statuses, messages and leftovers.
package isolab_test

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/gobuild"
	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/shmtest"
	"github.com/isolab/isolab/internal/sock"
	"github.com/isolab/isolab/internal/testnet"
)

var bins struct {
	once           sync.Once
	dir            string
	server, client string
	err            error
}

func TestMain(m *testing.M) {
	shmtest.MaybeChild()
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// binaries builds ./cmd/server and ./cmd/client once, static (CGO_ENABLED=0).
func binaries(t *testing.T) (server, client string) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "isolab-bin-")
		if bins.err != nil {
			return
		}
		// One build of the binaries: the flags every other caller uses.
		var out []string
		if out, bins.err = gobuild.Static(context.Background(), ".", bins.dir, gobuild.Server, gobuild.Client); bins.err != nil {
			return
		}
		bins.server, bins.client = out[0], out[1]
	})
	if bins.err != nil {
		t.Fatalf("build binaries: %v", bins.err)
	}
	return bins.server, bins.client
}

// srv is one server process and what it was given.
type srv struct {
	name, shmMsg, sockMsg string
	infoDir, path         string
	port, projID          int
	extra                 []string // more flags

	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
}

func newSrv(t *testing.T, infoDir, name string, extra ...string) *srv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shm-key")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return &srv{
		name: name, shmMsg: "shm-" + name, sockMsg: "sock-" + name,
		infoDir: infoDir, path: path, port: testnet.FreePort(t), projID: 'I',
		extra: extra,
	}
}

func (s *srv) argv(t *testing.T, wrap []string) []string {
	server, _ := binaries(t)
	args := append(append([]string{}, wrap...), server, "-q", "-ip", "127.0.0.1",
		"-port", strconv.Itoa(s.port), "-shm-path", s.path, "-proj-id", strconv.Itoa(s.projID),
		"-info-dir", s.infoDir, "-info-name", s.name, "-shm-msg", s.shmMsg, "-socket-msg", s.sockMsg,
		"-accept-timeout", "20s", "-grace", "10s")
	return append(args, s.extra...)
}

func (s *srv) key(t *testing.T) shm.Key {
	t.Helper()
	k, err := shm.Ftok(s.path, s.projID)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (s *srv) infoFile() string { return filepath.Join(s.infoDir, s.name) }

// start runs the server in the background, under the wrap command if any, and
// waits until its info file exists. The process is killed if the test ends
// before it exits.
func (s *srv) start(t *testing.T, lc *leakcheck.Checker, wrap ...string) {
	t.Helper()
	argv := s.argv(t, wrap)
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.cmd, err)
	}
	lc.Own(s.cmd.Process.Pid)
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	// No deadline of its own: the server either writes the file or exits,
	// however slow the machine (go test's -timeout bounds a hang).
	for {
		if _, err := os.Stat(s.infoFile()); err == nil {
			return
		}
		select {
		case <-s.done:
			t.Fatalf("%s exited (%v) before writing its info file; stderr: %s", s.cmd, s.cmd.ProcessState, s.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// exit waits up to limit for the server to end and checks that it exited 0
// with nothing on stderr.
func (s *srv) exit(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-s.done:
	case <-time.After(limit):
		t.Errorf("server %s still running after %v", s.name, limit)
		s.cmd.Process.Kill()
		<-s.done
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 || s.stderr.Len() != 0 {
		t.Errorf("server %s: exit %d (%v), stderr %q; want 0 and nothing", s.name, code, s.cmd.ProcessState, s.stderr.String())
	}
	return time.Since(start)
}

// gone checks that the server left nothing: no info file, no segment with its
// key in this IPC namespace, nothing on its port.
func (s *srv) gone(t *testing.T) {
	t.Helper()
	if _, err := os.Lstat(s.infoFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server %s: info file %s left behind (%v)", s.name, s.infoFile(), err)
	}
	if des, _ := os.ReadDir(s.infoDir); len(des) != 0 {
		for _, de := range des {
			if strings.HasPrefix(de.Name(), "."+s.name) {
				t.Errorf("server %s: temporary %s left behind", s.name, de.Name())
			}
		}
	}
	if k := s.key(t); leakcheck.HasKey(int32(k)) {
		t.Errorf("server %s: segment %v left behind", s.name, k)
	}
	leakcheck.PortFree(t, s.port)
}

// runFailing runs the server to its end (it must fail) and returns its stderr.
func (s *srv) runFailing(t *testing.T, lc *leakcheck.Checker, wrap ...string) string {
	t.Helper()
	argv := s.argv(t, wrap)
	cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lc.Own(cmd.Process.Pid)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("%s: exit %d, want 1", cmd, code)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing (-q)", stdout.String())
	}
	e := stderr.String()
	if strings.Count(e, "\n") != 1 || !strings.HasPrefix(e, "system error: ") || !strings.HasSuffix(e, "\n") {
		t.Errorf("stderr %q, want exactly one line \"system error: ...\"", e)
	}
	return strings.TrimSuffix(e, "\n")
}

type clientRun struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func runClient(t *testing.T, lc *leakcheck.Checker, args ...string) clientRun {
	t.Helper()
	_, client := binaries(t)
	cmd := exec.CommandContext(t.Context(), client, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lc.Own(cmd.Process.Pid)
	cmd.Wait()
	return clientRun{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String(), time.Since(start)}
}

func fiveLines(total, host, container, vm int, msgs ...string) string {
	return fmt.Sprintf("Total Servers: %d\nHost: %d\nContainer: %d\nVM: %d\nMessages:%s\n",
		total, host, container, vm, strings.Join(append([]string{""}, msgs...), " "))
}

func TestIntegrationBinariesStatic(t *testing.T) {
	server, client := binaries(t)
	for _, bin := range []string{server, client} {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s has a %v program header: not static", filepath.Base(bin), p.Type)
			}
		}
		f.Close()
	}
}

// TestIntegrationHostServers runs three servers and the client on this host.
func TestIntegrationHostServers(t *testing.T) {
	lc := leakcheck.Check(t)
	dir := t.TempDir()
	var servers []*srv
	for _, name := range []string{"srv-b", "srv-a", "srv-c"} {
		s := newSrv(t, dir, name)
		s.start(t, lc)
		servers = append(servers, s)
	}
	r := runClient(t, lc, "-connect-timeout", "2s", "-read-timeout", "2s", dir)
	want := fiveLines(3, 3, 0, 0, "shm-srv-a", "sock-srv-a", "shm-srv-b", "sock-srv-b", "shm-srv-c", "sock-srv-c")
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("client = exit %d, stdout\n%s\nstderr %q; want 0 and\n%s", r.code, r.stdout, r.stderr, want)
	}
	for _, s := range servers {
		// The client attached every segment: no server waits out its grace.
		if took := s.exit(t, 3*time.Second); took > 2*time.Second {
			t.Errorf("server %s took %v to exit after the client", s.name, took)
		}
		s.gone(t)
	}
}

// TestIntegrationClasses puts one server on the host, one in its own IPC
// namespace (shared memory unreachable: Container) and one in its own IPC and
// network namespaces (loopback only: VM).
func TestIntegrationClasses(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not found, so loopback cannot be brought up in a new network namespace (try: apt-get install iproute2)")
	}
	for _, args := range [][]string{{"--ipc", "true"}, {"--ipc", "--net", "ip", "link", "set", "lo", "up"}} {
		if out, err := exec.Command("unshare", args...).CombinedOutput(); err != nil {
			t.Skipf("unshare %s not permitted: %v %s (run as root; util-linux's unshare)", strings.Join(args, " "), err, out)
		}
	}
	lc := leakcheck.Check(t)
	dir := t.TempDir()
	host := newSrv(t, dir, "1-host")
	cont := newSrv(t, dir, "2-container", "-grace", "200ms")
	vm := newSrv(t, dir, "3-vm")
	host.start(t, lc)
	cont.start(t, lc, "unshare", "--ipc")
	vm.start(t, lc, "unshare", "--ipc", "--net", "sh", "-c", `ip link set lo up && exec "$0" "$@"`)

	r := runClient(t, lc, "-connect-timeout", "1s", "-read-timeout", "1s", dir)
	want := fiveLines(3, 1, 1, 1, "shm-1-host", "sock-1-host", "sock-2-container")
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("client = exit %d, stdout\n%s\nstderr %q; want 0 and\n%s", r.code, r.stdout, r.stderr, want)
	}
	host.exit(t, 3*time.Second)
	// Nobody can attach the container's segment: it keeps it for -grace.
	cont.exit(t, 3*time.Second)
	// Nobody reached the VM: it waits for a client until told to stop.
	if err := vm.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	vm.exit(t, 3*time.Second)
	for _, s := range []*srv{host, cont, vm} {
		s.gone(t)
	}
}

// TestIntegrationBadInfoFiles: malformed files get one stderr line each, naming
// the file and line, and exit status 2; other entries are ignored silently;
// the valid server is still reported.
func TestIntegrationBadInfoFiles(t *testing.T) {
	lc := leakcheck.Check(t)
	dir := t.TempDir()
	good := newSrv(t, dir, "good")
	good.start(t, lc)
	bad := []struct{ name, content, msg string }{ // in name order, as reported
		{"bad-count", "127.0.0.1\n80\n/p\n", "has 3 lines, want 4"},
		{"bad-ip", "127.0.0.1.1\n80\n/p\n1\n", `line 1: IP "127.0.0.1.1" is not an IPv4 address`},
		{"bad-path", "127.0.0.1\n80\n\n1\n", "line 3: shm pathname is empty"},
		{"bad-port", "127.0.0.1\n65536\n/p\n1\n", `line 2: port "65536" is not a number in 1..65535`},
		{"bad-proj", "127.0.0.1\n80\n/p\n768\n", "line 4: proj_id 768 has low 8 bits 0"},
		{"bad-size", strings.Repeat("9", 4097), "file is larger than 4096 bytes"},
	}
	for _, b := range bad {
		os.WriteFile(filepath.Join(dir, b.name), []byte(b.content), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "a-directory"), 0o755)
	os.Symlink(good.infoFile(), filepath.Join(dir, "a-symlink"))
	os.WriteFile(filepath.Join(dir, ".a-dotfile"), []byte("junk"), 0o644)

	r := runClient(t, lc, dir)
	if want := fiveLines(1, 1, 0, 0, "shm-good", "sock-good"); r.code != 2 || r.stdout != want {
		t.Errorf("client = exit %d, stdout\n%s\nwant 2 and\n%s", r.code, r.stdout, want)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != len(bad) {
		t.Errorf("stderr has %d lines, want %d (one per malformed file):\n%s", len(lines), len(bad), r.stderr)
	}
	for i, b := range bad {
		want := fmt.Sprintf("client: skipped info file %s: %s", filepath.Join(dir, b.name), b.msg)
		if i >= len(lines) || !strings.HasPrefix(lines[i], want) {
			t.Errorf("stderr line %d = %q, want it to start %q", i+1, lines[min(i, len(lines)-1)], want)
		}
	}
	good.exit(t, 3*time.Second)
	os.Remove(filepath.Join(dir, "a-symlink"))
	good.gone(t)
}

// TestIntegrationMuteServer: a server that accepts but never sends nor closes
// costs the client the read deadline, and -explain says what happened.
func TestIntegrationMuteServer(t *testing.T) {
	lc := leakcheck.Check(t)
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	defer func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	os.WriteFile(filepath.Join(dir, "mute"), fmt.Appendf(nil, "127.0.0.1\n%d\n/nonexistent/isolab\n1\n", port), 0o644)

	const deadline = 500 * time.Millisecond
	r := runClient(t, lc, "-explain", "-read-timeout", deadline.String(), dir)
	if r.code != 0 || !strings.HasPrefix(r.stdout, fiveLines(1, 0, 1, 0)) {
		t.Errorf("client = exit %d, stdout\n%s\nwant 0 and a Container with no messages", r.code, r.stdout)
	}
	if !strings.Contains(r.stdout, "connected, but nothing answered like a server (timed out after 5") {
		t.Errorf("-explain does not flag the mute server:\n%s", r.stdout)
	}
	if r.took > deadline+time.Second {
		t.Errorf("client took %v against a mute server, want about the read deadline %v", r.took, deadline)
	}
}

// TestIntegrationServerErrors: each failure gives exactly one "system error:"
// line, exit 1, and leaves no info file, segment or listening socket.
func TestIntegrationServerErrors(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, s *srv) (wrap []string)
		want    func(t *testing.T, s *srv) string // the whole stderr line; "…" stands for any text
	}{
		{"info name with slash", func(t *testing.T, s *srv) []string { s.name = "a/b"; return nil },
			func(*testing.T, *srv) string { return `system error: info file name "a/b" contains '/'` }},
		{"info name with dot-dot", func(t *testing.T, s *srv) []string { s.name = "x..y"; return nil },
			func(*testing.T, *srv) string { return `system error: info file name "x..y" contains '..'` }},
		{"proj_id low bits 0", func(t *testing.T, s *srv) []string { s.projID = 512; return nil },
			func(*testing.T, *srv) string {
				return "system error: proj_id 512 has low 8 bits 0, which ftok(3) rejects"
			}},
		{"shm pathname missing", func(t *testing.T, s *srv) []string { s.path += ".missing"; return nil },
			func(t *testing.T, s *srv) string {
				return "system error: ftok " + s.path + ": no such file or directory"
			}},
		{"port in use", func(t *testing.T, s *srv) []string {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s.port))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return nil
		}, func(t *testing.T, s *srv) string {
			return fmt.Sprintf("system error: bind 127.0.0.1:%d: bind: address already in use", s.port)
		}},
		{"info directory missing", func(t *testing.T, s *srv) []string { s.infoDir += "/missing"; return nil },
			func(t *testing.T, s *srv) string {
				return "system error: create info file: open " + s.infoDir + "/.srv.tmp…: no such file or directory"
			}},
		{"info directory read-only", func(t *testing.T, s *srv) []string {
			if os.Geteuid() != 0 {
				// Permissions bind everyone but root.
				if err := os.Chmod(s.infoDir, 0o555); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(s.infoDir, 0o755) })
				return nil
			}
			// Root ignores permissions: mount a read-only tmpfs over the directory,
			// in a mount namespace of the server's own.
			if out, err := exec.Command("unshare", "-m", "sh", "-c", `mount -t tmpfs -o ro isolab-test "$0"`, s.infoDir).CombinedOutput(); err != nil {
				t.Skipf("cannot mount a read-only tmpfs in a private mount namespace: %v %s (needs util-linux's unshare and mount)", err, out)
			}
			return []string{"unshare", "-m", "sh", "-c", `mount -t tmpfs -o ro isolab-test "$0" && exec "$@"`, s.infoDir}
		}, func(t *testing.T, s *srv) string {
			cause := "read-only file system"
			if os.Geteuid() != 0 {
				cause = "permission denied"
			}
			return "system error: create info file: open " + s.infoDir + "/.srv.tmp…: " + cause
		}},
		{"segment held by a live process", func(t *testing.T, s *srv) []string {
			id, err := shm.Create(s.key(t), shm.Size, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { shm.Remove(id) })
			return nil
		}, func(t *testing.T, s *srv) string {
			k := s.key(t)
			id, _ := shm.Lookup(k)
			return fmt.Sprintf("system error: create segment %v for %s: segment %v (shmid %d) already exists, created by pid %d with 0 attached; remove it with 'ipcrm -m %d' once that process is gone",
				k, s.path, k, id, os.Getpid(), id)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lc := leakcheck.Check(t)
			dir := t.TempDir()
			s := newSrv(t, dir, "srv")
			wrap := tt.prepare(t, s)
			want := tt.want(t, s)
			got := s.runFailing(t, lc, wrap...)
			if pre, post, ok := strings.Cut(want, "…"); ok {
				if !strings.HasPrefix(got, pre) || !strings.HasSuffix(got, post) {
					t.Errorf("stderr %q, want %q", got, want)
				}
			} else if got != want {
				t.Errorf("stderr %q\nwant   %q", got, want)
			}
			if des, _ := os.ReadDir(dir); len(des) != 0 {
				t.Errorf("info directory holds %s after the failure", des[0].Name())
			}
			if strings.Contains(tt.name, "held") {
				return // the segment with this key is the test's own
			}
			if k, err := shm.Ftok(s.path, s.projID); err == nil && leakcheck.HasKey(int32(k)) {
				t.Errorf("segment %v left behind", k)
			}
			if !strings.Contains(tt.name, "port in use") {
				leakcheck.PortFree(t, s.port)
			}
		})
	}
}

// TestIntegrationStaleSegment: a segment left by a server that died (creator
// gone, nobody attached) is reclaimed, and the server works.
func TestIntegrationStaleSegment(t *testing.T) {
	lc := leakcheck.Check(t)
	dir := t.TempDir()
	s := newSrv(t, dir, "srv")
	old := shmtest.CreateStale(t, s.key(t), "stale")
	if d, err := shm.Stat(old); err == nil {
		lc.Own(int(d.Cpid))
	}
	t.Cleanup(func() { shm.Remove(old) })
	s.start(t, lc)
	r := runClient(t, lc, dir)
	if want := fiveLines(1, 1, 0, 0, "shm-srv", "sock-srv"); r.code != 0 || r.stdout != want {
		t.Errorf("client = exit %d, stdout\n%s\nwant\n%s", r.code, r.stdout, want)
	}
	s.exit(t, 3*time.Second)
	s.gone(t)
}

// TestIntegrationSignals: SIGINT or SIGTERM while waiting for a client, or while
// keeping the segment for a late client, releases everything and exits 0.
func TestIntegrationSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String()+" while waiting for a client", func(t *testing.T) {
			lc := leakcheck.Check(t)
			s := newSrv(t, t.TempDir(), "srv", "-accept-timeout", "1m")
			s.start(t, lc)
			if err := s.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if took := s.exit(t, 3*time.Second); took > time.Second {
				t.Errorf("server took %v to exit after %v", took, sig)
			}
			s.gone(t)
		})
		t.Run(sig.String()+" during the grace period", func(t *testing.T) {
			lc := leakcheck.Check(t)
			s := newSrv(t, t.TempDir(), "srv", "-grace", "1m")
			s.start(t, lc)
			fd, err := sock.Connect(testnet.Loopback, s.port, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := sock.ReadUntilEOF(fd, time.Now().Add(2*time.Second), 1<<16)
			sock.Close(fd)
			if err != nil || string(msg) != s.sockMsg {
				t.Fatalf("socket message %q, %v; want %q", msg, err, s.sockMsg)
			}
			time.Sleep(100 * time.Millisecond) // now in the grace period
			if err := s.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if took := s.exit(t, 3*time.Second); took > time.Second {
				t.Errorf("server took %v to exit after %v", took, sig)
			}
			s.gone(t)
		})
	}
}

// TestIntegrationAcceptTimeout: no client before -accept-timeout is not an error.
func TestIntegrationAcceptTimeout(t *testing.T) {
	lc := leakcheck.Check(t)
	s := newSrv(t, t.TempDir(), "srv", "-accept-timeout", "300ms")
	s.start(t, lc)
	s.exit(t, 3*time.Second)
	s.gone(t)
}

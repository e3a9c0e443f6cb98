//go:build linux

package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/client"
	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/shmtest"
	"github.com/isolab/isolab/internal/sock"
	"github.com/isolab/isolab/internal/testnet"
	"github.com/isolab/isolab/server"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

const slack = 500 * time.Millisecond

// newSetup returns a Setup on 127.0.0.1 with a free port, a fresh pathname and
// an info directory of its own, with short timeouts.
func newSetup(t *testing.T) server.Setup {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shm-key")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return server.Setup{
		Port:              testnet.FreePort(t),
		ShmPathname:       path,
		ShmProjID:         'S',
		InfoFileName:      "srv",
		InfoFileDirectory: t.TempDir(),
		IP:                testnet.Loopback,
		AcceptTimeout:     5 * time.Second,
		Grace:             5 * time.Second,
		Logf:              t.Logf,
	}
}

func keyOf(t *testing.T, s server.Setup) shm.Key {
	t.Helper()
	k, err := shm.Ftok(s.ShmPathname, s.ShmProjID)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// released checks that nothing of setup's server remains: no segment with its
// key, no info file, the port free.
func released(t *testing.T, s server.Setup) {
	t.Helper()
	if k, err := shm.Ftok(s.ShmPathname, s.ShmProjID); err == nil && leakcheck.HasKey(int32(k)) {
		t.Errorf("segment %v still exists", k)
	}
	if des, _ := os.ReadDir(s.InfoFileDirectory); len(des) != 0 {
		t.Errorf("info directory still holds %d entries (%s...)", len(des), des[0].Name())
	}
	leakcheck.PortFree(t, s.Port)
}

// startRun runs server.Run in a goroutine and waits for its info file.
func startRun(t *testing.T, ctx context.Context, s server.Setup, shmMsg, sockMsg string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, s, shmMsg, sockMsg) }()
	p := filepath.Join(s.InfoFileDirectory, s.InfoFileName)
	// No deadline of its own: Run either writes the file or ends, however
	// slow the machine (go test's -timeout bounds a hang).
	for {
		if _, err := os.Stat(p); err == nil {
			return done
		}
		select {
		case err := <-done:
			t.Fatalf("Run ended before writing its info file %s: %v", p, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// wait returns how long Run took to return from now, and what it returned.
func wait(t *testing.T, done <-chan error, within time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(within + 5*time.Second):
		t.Fatalf("Run did not return within %v", within+5*time.Second)
		return 0, nil
	}
}

func TestRunWithClient(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	done := startRun(t, context.Background(), s, "shm-hello", "sock-hello")

	b, err := os.ReadFile(filepath.Join(s.InfoFileDirectory, s.InfoFileName))
	if want := fmt.Sprintf("127.0.0.1\n%d\n%s\n%d\n", s.Port, s.ShmPathname, s.ShmProjID); err != nil || string(b) != want {
		t.Errorf("info file = %q, %v, want %q", b, err, want)
	}
	id, err := shm.Lookup(keyOf(t, s))
	if err != nil {
		t.Fatalf("segment of the running server: %v", err)
	}
	if d, err := shm.Stat(id); err != nil || d.Segsz != shm.Size || d.Perm.Mode&0o777 != 0o644 || d.Nattch != 0 {
		t.Errorf("segment: size %d, mode %o, nattch %d, %v; want %d, 0644, 0 (the server detached)", d.Segsz, d.Perm.Mode&0o777, d.Nattch, err, shm.Size)
	}

	// The client keeps its attachment until Disconnect, and the server sees it.
	// (Client and server share a pid here, so once the client has detached the
	// server could not tell its attach from its own: detach only after Run.)
	servers, _, err := client.CountServers(s.InfoFileDirectory, client.Options{ConnectTimeout: time.Second, ReadTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	client.PrintServerInfos(&out, servers)
	if want := "Total Servers: 1\nHost: 1\nContainer: 0\nVM: 0\nMessages: shm-hello sock-hello\n"; out.String() != want {
		t.Errorf("client saw\n%s\nwant\n%s", out.String(), want)
	}
	// The client attached, so the server need not wait out its grace period.
	if took, err := wait(t, done, time.Second); err != nil || took > time.Second {
		t.Errorf("Run = %v after %v, want nil at once", err, took)
	}
	if err := client.Disconnect(servers); err != nil {
		t.Errorf("Disconnect = %v", err)
	}
	released(t, s)
}

func TestRunNoClient(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	s.AcceptTimeout = 200 * time.Millisecond
	start := time.Now()
	if err := server.Run(context.Background(), s, "a", "b"); err != nil {
		t.Errorf("Run with no client = %v, want nil", err)
	}
	if took := time.Since(start); took < s.AcceptTimeout || took > s.AcceptTimeout+slack {
		t.Errorf("Run with no client took %v, want about the accept timeout %v (no grace wait)", took, s.AcceptTimeout)
	}
	released(t, s)
}

func TestRunCancelled(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	s.AcceptTimeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := startRun(t, ctx, s, "a", "b")
	cancel()
	if took, err := wait(t, done, slack); err != nil || took > slack {
		t.Errorf("Run after cancel = %v after %v, want nil at once", err, took)
	}
	released(t, s)

	// Cancelled before it starts: still no leftovers.
	s = newSetup(t)
	if err := server.Run(ctx, s, "a", "b"); err != nil {
		t.Errorf("Run(cancelled ctx) = %v, want nil", err)
	}
	released(t, s)
}

// connectAndRead is a client that takes the socket message but does not attach
// the segment (yet).
func connectAndRead(t *testing.T, s server.Setup) string {
	t.Helper()
	fd, err := sock.Connect(s.IP, s.Port, time.Second)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer sock.Close(fd)
	b, err := sock.ReadUntilEOF(fd, time.Now().Add(time.Second), 1<<16)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func TestLateAttachWithinGrace(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	done := startRun(t, context.Background(), s, "late-shm", "sock")
	if got := connectAndRead(t, s); got != "sock" {
		t.Errorf("socket message %q, want %q", got, "sock")
	}
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) before any client attached and before the grace period", err)
	default:
	}
	id, err := shm.Lookup(keyOf(t, s))
	if err != nil {
		t.Fatalf("late client cannot find the segment: %v", err)
	}
	if got := shmtest.AttachFromChild(t, id); got != "late-shm" {
		t.Errorf("late client read %q, want %q", got, "late-shm")
	}
	if took, err := wait(t, done, slack); err != nil || took > slack {
		t.Errorf("Run after the late attach = %v after %v, want nil at once", err, took)
	}
	released(t, s)
}

func TestGraceExpires(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	s.Grace = 300 * time.Millisecond
	done := startRun(t, context.Background(), s, "never-read", "sock")
	start := time.Now()
	connectAndRead(t, s)
	_, err := wait(t, done, s.Grace)
	if took := time.Since(start); err != nil || took < s.Grace-50*time.Millisecond || took > s.Grace+slack {
		t.Errorf("Run = %v after %v, want nil after about the grace period %v", err, took, s.Grace)
	}
	released(t, s)
}

func TestCancelDuringGrace(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	s.Grace = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := startRun(t, ctx, s, "a", "b")
	connectAndRead(t, s)
	time.Sleep(50 * time.Millisecond)
	cancel()
	if took, err := wait(t, done, slack); err != nil || took > slack {
		t.Errorf("Run cancelled during the grace period = %v after %v, want nil at once", err, took)
	}
	released(t, s)
}

// TestStepByStep drives the spec's functions one by one.
func TestStepByStep(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	l, err := server.StartCommunication(s)
	if err != nil {
		t.Fatalf("StartCommunication = %v", err)
	}
	if l.ServerFD < 0 || l.ShmID < 0 || l.ClientFD != -1 || l.InfoFilePath != "" {
		t.Errorf("Live after start = %+v", l)
	}
	if err := server.WriteToSocket(l, "x"); err == nil {
		t.Errorf("WriteToSocket before GetConnection = nil, want an error")
	}
	if err := server.WriteToShm(l, "step"); err != nil {
		t.Fatal(err)
	}
	if err := server.WriteToShm(l, strings.Repeat("x", shm.Size)); err == nil {
		t.Errorf("WriteToShm(4096 bytes) = nil, want an error (no room for the NUL)")
	}
	if err := server.CreateInfoFile(l); err != nil {
		t.Fatal(err)
	}
	if l.InfoFilePath != filepath.Join(s.InfoFileDirectory, s.InfoFileName) {
		t.Errorf("InfoFilePath = %q", l.InfoFilePath)
	}
	got := make(chan string, 1)
	go func() { got <- connectAndRead(t, s) }()
	if err := server.GetConnection(l); err != nil {
		t.Fatalf("GetConnection = %v", err)
	}
	if err := server.WriteToSocket(l, "step-sock"); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != "step-sock" {
		t.Errorf("client read %q, want %q (bytes alone, then EOF)", m, "step-sock")
	}
	if got := shmtest.AttachFromChild(t, l.ShmID); got != "step" {
		t.Errorf("segment holds %q, want %q", got, "step")
	}
	if err := server.Shutdown(l); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if l.ServerFD != -1 || l.ShmID != -1 || l.InfoFilePath != "" {
		t.Errorf("Live after Shutdown = %+v, want everything released", l)
	}
	if err := server.Shutdown(l); err != nil {
		t.Errorf("second Shutdown = %v, want nil", err)
	}
	released(t, s)
}

func TestGetConnectionTimeoutAndInterrupt(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	s.AcceptTimeout = 100 * time.Millisecond
	l, err := server.StartCommunication(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.GetConnection(l); !errors.Is(err, server.ErrNoClient) {
		t.Errorf("GetConnection with nobody = %v, want ErrNoClient", err)
	}
	l.AcceptTimeout = time.Minute
	time.AfterFunc(50*time.Millisecond, l.Interrupt)
	if err := server.GetConnection(l); !errors.Is(err, server.ErrInterrupted) {
		t.Errorf("GetConnection after Interrupt = %v, want ErrInterrupted", err)
	}
	if err := server.Shutdown(l); err != nil {
		t.Error(err)
	}
	l.Interrupt() // after Shutdown: must not panic or touch closed descriptors
	released(t, s)
}

// TestRefusedSetups: each bad setup fails with a clear error and takes nothing.
func TestRefusedSetups(t *testing.T) {
	leakcheck.Check(t)
	tests := []struct {
		name   string
		change func(*server.Setup)
		want   string
	}{
		{"name with slash", func(s *server.Setup) { s.InfoFileName = "a/b" }, `contains '/'`},
		{"name ..", func(s *server.Setup) { s.InfoFileName = ".." }, `contains '..'`},
		{"name with ..", func(s *server.Setup) { s.InfoFileName = "x..y" }, `contains '..'`},
		{"dot name", func(s *server.Setup) { s.InfoFileName = ".srv" }, `starts with '.'`},
		{"proj_id 256", func(s *server.Setup) { s.ShmProjID = 256 }, "low 8 bits 0"},
		{"port 0", func(s *server.Setup) { s.Port = 0 }, "outside 1..65535"},
		{"port 65536", func(s *server.Setup) { s.Port = 65536 }, "outside 1..65535"},
		{"IPv6", func(s *server.Setup) { s.IP = netip.MustParseAddr("::1") }, "not IPv4"},
		{"shm path missing", func(s *server.Setup) { s.ShmPathname += "-missing" }, "ftok "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			tt.change(&s)
			l, err := server.StartCommunication(s)
			if err == nil || !strings.Contains(err.Error(), tt.want) || l != nil {
				t.Errorf("StartCommunication = %v, %v; want nil and an error with %q", l, err, tt.want)
			}
			s.ShmPathname = strings.TrimSuffix(s.ShmPathname, "-missing")
			if s.Port >= 1 && s.Port <= 65535 {
				released(t, s)
			}
		})
	}
}

func TestPortInUse(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	fd, err := sock.Listen(s.IP, s.Port, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close(fd)
	err = server.Run(context.Background(), s, "a", "b")
	if !errors.Is(err, unix.EADDRINUSE) || !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(s.Port)) {
		t.Errorf("Run on a taken port = %v, want EADDRINUSE naming the address", err)
	}
	if leakcheck.HasKey(int32(keyOf(t, s))) {
		t.Errorf("segment left behind")
	}
}

func TestInfoDirMissing(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	s.InfoFileDirectory = filepath.Join(s.InfoFileDirectory, "missing")
	err := server.Run(context.Background(), s, "a", "b")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "create info file") || !strings.Contains(err.Error(), s.InfoFileDirectory) {
		t.Errorf("Run with a missing info directory = %v, want ErrNotExist naming it", err)
	}
	s.InfoFileDirectory = filepath.Dir(s.InfoFileDirectory)
	released(t, s)
}

func TestShmMessageTooBig(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	if err := server.Run(context.Background(), s, strings.Repeat("m", shm.Size), "b"); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("Run with a 4096-byte shm message = %v, want an error", err)
	}
	released(t, s)
}

func TestStaleSegmentReclaimed(t *testing.T) {
	c := leakcheck.Check(t)
	s := newSetup(t)
	key := keyOf(t, s)
	old := shmtest.CreateStale(t, key, "stale")
	if d, err := shm.Stat(old); err == nil {
		c.Own(int(d.Cpid))
	}
	t.Cleanup(func() { shm.Remove(old) })
	l, err := server.StartCommunication(s)
	if err != nil {
		t.Fatalf("StartCommunication over a stale segment = %v, want it reclaimed", err)
	}
	if l.ShmID == old {
		t.Errorf("server reuses the stale shmid %d", old)
	}
	if err := server.Shutdown(l); err != nil {
		t.Error(err)
	}
	released(t, s)
}

func TestHeldSegmentRefused(t *testing.T) {
	leakcheck.Check(t)
	s := newSetup(t)
	key := keyOf(t, s)
	id, err := shm.Create(key, shm.Size, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Remove(id)
	err = server.Run(context.Background(), s, "a", "b")
	var held *shm.HeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), s.ShmPathname) {
		t.Errorf("Run with the key held by pid %d = %v, want a HeldError naming the pid and the path", os.Getpid(), err)
	}
	if got, err := shm.Lookup(key); err != nil || got != id {
		t.Errorf("held segment: Lookup = %d, %v; want %d untouched", got, err, id)
	}
	if des, _ := os.ReadDir(s.InfoFileDirectory); len(des) != 0 {
		t.Errorf("info file written")
	}
	leakcheck.PortFree(t, s.Port)
}

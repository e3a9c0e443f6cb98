package sock_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/sock"
	"github.com/isolab/isolab/internal/testnet"
	"golang.org/x/sys/unix"
)

// slack is how late a bounded wait may return on a busy machine.
const slack = 500 * time.Millisecond

func within(t *testing.T, what string, took, want time.Duration) {
	t.Helper()
	if took < want-10*time.Millisecond || took > want+slack {
		t.Errorf("%s took %v, want about %v", what, took, want)
	}
}

func TestListen(t *testing.T) {
	port := testnet.FreePort(t)
	fd, err := sock.Listen(testnet.Loopback, port, 1)
	if err != nil {
		t.Fatalf("Listen(127.0.0.1, %d) = %v", port, err)
	}
	defer sock.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	if in4 := sa.(*unix.SockaddrInet4); in4.Addr != [4]byte{127, 0, 0, 1} || in4.Port != port {
		t.Errorf("listening on %v:%d, want 127.0.0.1:%d (not 0.0.0.0)", in4.Addr, in4.Port, port)
	}
	_, err = sock.Listen(testnet.Loopback, port, 1)
	if !errors.Is(err, unix.EADDRINUSE) || !strings.Contains(err.Error(), "127.0.0.1:") {
		t.Errorf("second Listen on port %d = %v, want EADDRINUSE naming the address", port, err)
	}
}

func TestConnectRefused(t *testing.T) {
	port := testnet.FreePort(t)
	start := time.Now()
	_, err := sock.Connect(testnet.Loopback, port, 2*time.Second)
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("Connect(127.0.0.1:%d) to a closed port = %v, want ECONNREFUSED", port, err)
	}
	if took := time.Since(start); took > slack {
		t.Errorf("refused Connect took %v, want it at once", took)
	}
}

// TestConnectTimesOut connects to a listener whose accept queue is full: the
// kernel drops the SYN, so only the timeout ends the attempt.
func TestConnectTimesOut(t *testing.T) {
	addr := testnet.FullListener(t)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	fd, err := sock.Connect(addr.Addr(), int(addr.Port()), timeout)
	if !errors.Is(err, sock.ErrTimedOut) {
		sock.Close(fd)
		t.Fatalf("Connect(%v) to a full queue = %v, want ErrTimedOut", addr, err)
	}
	within(t, "Connect to a full queue", time.Since(start), timeout)
}

func TestConnectAccept(t *testing.T) {
	port := testnet.FreePort(t)
	lfd, err := sock.Listen(testnet.Loopback, port, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close(lfd)
	cfd, err := sock.Connect(testnet.Loopback, port, time.Second)
	if err != nil {
		t.Fatalf("Connect(127.0.0.1:%d) = %v", port, err)
	}
	defer sock.Close(cfd)
	if fl, err := unix.FcntlInt(uintptr(cfd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK != 0 {
		t.Errorf("connected descriptor flags %#x, %v: want it blocking again", fl, err)
	}
	w := newWaker(t)
	afd, err := sock.Accept(lfd, time.Second, w)
	if err != nil {
		t.Fatalf("Accept = %v", err)
	}
	if err := sock.WriteAll(afd, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	sock.Close(afd)
	got, err := sock.ReadUntilEOF(cfd, time.Now().Add(time.Second), 1<<16)
	if err != nil || string(got) != "hello" {
		t.Errorf("ReadUntilEOF = %q, %v, want %q, nil", got, err, "hello")
	}
}

func TestAcceptTimesOut(t *testing.T) {
	lfd, err := sock.Listen(testnet.Loopback, testnet.FreePort(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close(lfd)
	const timeout = 200 * time.Millisecond
	start := time.Now()
	_, err = sock.Accept(lfd, timeout, newWaker(t))
	if !errors.Is(err, sock.ErrTimedOut) {
		t.Errorf("Accept with nobody connecting = %v, want ErrTimedOut", err)
	}
	within(t, "Accept", time.Since(start), timeout)
}

func TestWakerInterruptsAccept(t *testing.T) {
	lfd, err := sock.Listen(testnet.Loopback, testnet.FreePort(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close(lfd)
	w := newWaker(t)
	const after = 100 * time.Millisecond
	time.AfterFunc(after, w.Wake)
	start := time.Now()
	_, err = sock.Accept(lfd, time.Minute, w)
	if !errors.Is(err, sock.ErrWoken) {
		t.Errorf("Accept after Wake = %v, want ErrWoken", err)
	}
	within(t, "woken Accept", time.Since(start), after)
	// Woken once, every later wait returns at once.
	if !w.Sleep(time.Minute) {
		t.Errorf("Sleep after Wake = false, want true")
	}
	if _, err := sock.Accept(lfd, time.Minute, w); !errors.Is(err, sock.ErrWoken) {
		t.Errorf("second Accept after Wake = %v, want ErrWoken", err)
	}
}

func TestWakerSleep(t *testing.T) {
	w := newWaker(t)
	start := time.Now()
	if w.Sleep(100 * time.Millisecond) {
		t.Errorf("Sleep without Wake = true")
	}
	within(t, "Sleep", time.Since(start), 100*time.Millisecond)
}

// TestWaitRetriesEINTR sends signals at the process while Accept waits: select
// fails with EINTR on the thread a signal lands on, and the wait must resume
// with the time left instead of failing or returning early.
func TestWaitRetriesEINTR(t *testing.T) {
	lfd, err := sock.Listen(testnet.Loopback, testnet.FreePort(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close(lfd)
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	defer signal.Stop(c)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				syscall.Kill(os.Getpid(), syscall.SIGUSR1)
			}
		}
	}()
	const timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = sock.Accept(lfd, timeout, newWaker(t))
	close(done)
	if !errors.Is(err, sock.ErrTimedOut) {
		t.Errorf("Accept under a storm of signals = %v, want ErrTimedOut", err)
	}
	within(t, "Accept under signals", time.Since(start), timeout)
}

// peer accepts one connection on 127.0.0.1 and hands it to serve, with a
// channel closed when the test ends.
func peer(t *testing.T, serve func(c net.Conn, end <-chan struct{})) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	end, done := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(end); l.Close(); <-done })
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c, end)
	}()
	return l.Addr().(*net.TCPAddr).AddrPort()
}

func dial(t *testing.T, addr netip.AddrPort) int {
	t.Helper()
	fd, err := sock.Connect(addr.Addr(), int(addr.Port()), time.Second)
	if err != nil {
		t.Fatalf("Connect(%v) = %v", addr, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func TestReadUntilEOF(t *testing.T) {
	leakcheck.Check(t)
	const deadline = 300 * time.Millisecond
	tests := []struct {
		name    string
		serve   func(net.Conn, <-chan struct{})
		want    string
		wantErr error
		took    time.Duration // 0: at once
	}{
		{"sends and closes", func(c net.Conn, _ <-chan struct{}) { c.Write([]byte("msg")) }, "msg", nil, 0},
		{"closes at once", func(net.Conn, <-chan struct{}) {}, "", nil, 0},
		{"never sends", func(_ net.Conn, end <-chan struct{}) { <-end }, "", sock.ErrTimedOut, deadline},
		{"sends, never closes", func(c net.Conn, end <-chan struct{}) { c.Write([]byte("half")); <-end }, "half", sock.ErrTimedOut, deadline},
		{"sends too much", func(c net.Conn, _ <-chan struct{}) { c.Write(bytes.Repeat([]byte("y"), 1<<20)) }, strings.Repeat("y", 64<<10), nil, 0},
		{"too much, never closes", func(c net.Conn, end <-chan struct{}) {
			c.Write(bytes.Repeat([]byte("z"), 64<<10+1))
			<-end
		}, strings.Repeat("z", 64<<10), nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd := dial(t, peer(t, tt.serve))
			start := time.Now()
			got, err := sock.ReadUntilEOF(fd, start.Add(deadline), 64<<10)
			took := time.Since(start)
			if string(got) != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("ReadUntilEOF = %d bytes %.20q, %v; want %d bytes %.20q, %v", len(got), got, err, len(tt.want), tt.want, tt.wantErr)
			}
			if tt.took > 0 {
				within(t, "ReadUntilEOF", took, tt.took)
			} else if took > slack {
				t.Errorf("ReadUntilEOF took %v, want it at once", took)
			}
		})
	}
}

// TestBeyondFDSetSize checks that a descriptor select(2) cannot hold gives an
// error, not memory corruption.
func TestBeyondFDSetSize(t *testing.T) {
	fd := dial(t, peer(t, func(net.Conn, <-chan struct{}) {}))
	high := 1500
	if err := unix.Dup3(fd, high, unix.O_CLOEXEC); err != nil {
		t.Skipf("dup3 to descriptor %d: %v (RLIMIT_NOFILE too low)", high, err)
	}
	defer unix.Close(high)
	_, err := sock.ReadUntilEOF(high, time.Now().Add(time.Second), 10)
	if err == nil || !strings.Contains(err.Error(), "FD_SETSIZE") {
		t.Errorf("ReadUntilEOF(fd %d) = %v, want an FD_SETSIZE error", high, err)
	}
}

func newWaker(t *testing.T) *sock.Waker {
	t.Helper()
	w, err := sock.NewWaker()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Waker.Close = %v", err)
		}
	})
	return w
}

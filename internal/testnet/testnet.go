package testnet

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/sock"
	"golang.org/x/sys/unix"
)

// Loopback is 127.0.0.1.
var Loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FullListener listens on 127.0.0.1 with backlog 0 and fills its accept queue,
// so that a connect(2) to the returned address neither succeeds nor fails
// before its timeout. Everything is closed when the test ends.
func FullListener(t testing.TB) netip.AddrPort {
	t.Helper()
	fd, err := sock.Listen(Loopback, 0, 0)
	if err != nil {
		t.Fatalf("listen with backlog 0: %v", err)
	}
	fds := []int{fd}
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	addr := netip.AddrPortFrom(Loopback, uint16(sa.(*unix.SockaddrInet4).Port))
	// With backlog 0 the queue holds one connection; fill until a connect hangs.
	for range 8 {
		c, err := sock.Connect(addr.Addr(), int(addr.Port()), 200*time.Millisecond)
		if errors.Is(err, sock.ErrTimedOut) {
			return addr
		}
		if err != nil {
			t.Fatalf("fill the accept queue of %s: %v", addr, err)
		}
		fds = append(fds, c)
	}
	t.Fatalf("the accept queue of %s (backlog 0) never filled", addr)
	return addr
}

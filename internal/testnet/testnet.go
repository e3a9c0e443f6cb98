package testnet

import (
	"net"
	"net/netip"
	"testing"

	"github.com/isolab/isolab/internal/sock"
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

// FullListener is a sock.FullListener on 127.0.0.1: a connect(2) to the
// returned address neither succeeds nor fails before its timeout.
// Everything is closed when the test ends.
func FullListener(t testing.TB) netip.AddrPort {
	t.Helper()
	port, closeAll, err := sock.FullListener(Loopback)
	if err != nil {
		t.Fatalf("a listener whose connects hang: %v", err)
	}
	t.Cleanup(closeAll)
	return netip.AddrPortFrom(Loopback, uint16(port))
}

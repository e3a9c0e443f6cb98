package sock

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
)

// ErrTimedOut is returned when select(2) saw nothing before the deadline.
var ErrTimedOut = errors.New("timed out")

// ErrWoken is returned when a wait was cut short by a Waker.
var ErrWoken = errors.New("interrupted")

// Iface is what DefaultIPv4 needs to know of a network interface.
type Iface struct {
	Name string
	Up   bool
	Loop bool
	Addr []netip.Addr
}

// PickIPv4 chooses a server's address: the IPv4 address of the interface that
// holds the default route, else the first non-loopback IPv4 address of an
// interface that is up, else 127.0.0.1.
func PickIPv4(defaultRouteIface string, ifaces []Iface) netip.Addr {
	for _, want := range []func(Iface) bool{
		func(i Iface) bool { return defaultRouteIface != "" && i.Name == defaultRouteIface },
		func(i Iface) bool { return i.Up && !i.Loop },
	} {
		for _, i := range ifaces {
			if !want(i) {
				continue
			}
			for _, a := range i.Addr {
				if a.Is4() && !a.IsLoopback() {
					return a
				}
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// DefaultIPv4 applies PickIPv4 to this machine's routing table and interfaces.
func DefaultIPv4() netip.Addr {
	return PickIPv4(DefaultRouteIface(), systemIfaces())
}

// DefaultRouteIface reads the calling thread's routing table for the interface
// of the IPv4 default route (destination 0, mask 0), or "" when there is none.
// /proc/net/route would show the main thread's namespace, which a process that
// runs threads in other network namespaces may have moved.
func DefaultRouteIface() string {
	f, err := os.Open("/proc/thread-self/net/route")
	if err != nil {
		if f, err = os.Open("/proc/net/route"); err != nil {
			return ""
		}
	}
	defer f.Close()
	return parseDefaultRoute(f)
}

func parseDefaultRoute(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		if len(f) >= 8 && f[1] == "00000000" && f[7] == "00000000" {
			return f[0]
		}
	}
	return ""
}

func systemIfaces() []Iface {
	nis, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []Iface
	for _, ni := range nis {
		i := Iface{Name: ni.Name, Up: ni.Flags&net.FlagUp != 0, Loop: ni.Flags&net.FlagLoopback != 0}
		addrs, _ := ni.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				i.Addr = append(i.Addr, p.Addr().Unmap())
			}
		}
		out = append(out, i)
	}
	return out
}

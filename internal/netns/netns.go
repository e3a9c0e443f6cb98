package netns

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Dir is where ip-netns(8) keeps named namespaces.
const Dir = "/run/netns"

// nameRE is what a namespace name may be: it becomes a file name, a dockerd
// containerd namespace and part of a socket path.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)

// CheckName refuses a name that cannot name a namespace.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("network namespace name %q: want letters, digits, '.', '_' or '-', at most 32", name)
	}
	return nil
}

// Path is the file of the namespace called name.
func Path(name string) string { return filepath.Join(Dir, name) }

// Exists reports whether a namespace called name exists.
func Exists(name string) bool {
	_, err := os.Stat(Path(name))
	return err == nil
}

// Enter returns the command prefix that runs a command in the namespace at
// path: nsenter --net=PATH --, or nothing for "" (this process's own).
// nsenter execs the command in place, so its pid is the command's; unlike
// ip netns exec it leaves /sys and the cgroup mounts alone, which dockerd
// and podman need.
func Enter(path string) []string {
	if path == "" {
		return nil
	}
	return []string{"nsenter", "--net=" + path, "--"}
}

// ErrNotIsolated is wrapped by Isolated's error when a namespace has a
// route out.
var ErrNotIsolated = errors.New("not an isolated network namespace")

// Isolated returns nil only when the namespace at path ("" for this
// thread's own) has no default route, IPv4 or IPv6, so that a connect to an
// address outside it fails at once. It fails closed: when it cannot read
// the routes, it says so as an error.
func Isolated(path string) error {
	return Do(path, func() error {
		v4, err := os.ReadFile("/proc/thread-self/net/route")
		if err != nil {
			return fmt.Errorf("cannot tell whether the network namespace is isolated: %w", err)
		}
		if via := defaultRoute4(strings.NewReader(string(v4))); via != "" {
			return fmt.Errorf("%w: it has a default route via %s", ErrNotIsolated, via)
		}
		v6, err := os.ReadFile("/proc/thread-self/net/ipv6_route")
		if errors.Is(err, os.ErrNotExist) {
			return nil // no IPv6 in this kernel
		}
		if err != nil {
			return fmt.Errorf("cannot tell whether the network namespace is isolated: %w", err)
		}
		if via := defaultRoute6(strings.NewReader(string(v6))); via != "" {
			return fmt.Errorf("%w: it has an IPv6 default route via %s", ErrNotIsolated, via)
		}
		return nil
	})
}

// defaultRoute4 returns the interface of the IPv4 default route in the
// text of /proc/net/route, or "".
func defaultRoute4(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		if f := strings.Fields(sc.Text()); len(f) >= 8 && f[1] == "00000000" && f[7] == "00000000" {
			return f[0]
		}
	}
	return ""
}

// defaultRoute6 returns the interface of a usable IPv6 default route in the
// text of /proc/net/ipv6_route, or "".
func defaultRoute6(r io.Reader) string {
	const rtfReject = 0x0200
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// dst, dst_len, src, src_len, next hop, metric, refcnt, use, flags, dev
		f := strings.Fields(sc.Text())
		if len(f) != 10 || f[0] != strings.Repeat("0", 32) || f[1] != "00" || f[9] == "lo" {
			continue
		}
		var flags uint64
		fmt.Sscanf(f[8], "%x", &flags)
		if flags&rtfReject == 0 {
			return f[9]
		}
	}
	return ""
}

package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A namespace Create makes is isolated, its loopback works, a connect out
// of it fails at once, and Delete removes it.
func TestCreateIsolatedDelete(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a network namespace needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not found (try: apt-get install iproute2)")
	}
	ctx := context.Background()
	name := fmt.Sprintf("isolab-test-%d", os.Getpid())
	if err := Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	defer Delete(ctx, name)
	if err := Create(ctx, name); !errors.Is(err, ErrExists) {
		t.Errorf("Create twice: %v, want ErrExists", err)
	}
	if err := Isolated(Path(name)); err != nil {
		t.Errorf("Isolated(new namespace) = %v", err)
	}
	err := Do(Path(name), func() error {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			return fmt.Errorf("loopback: %w", err)
		}
		c.Close()
		start := time.Now()
		// 10.0.2.15 is what a QEMU guest is at: from here it must fail at
		// once, without leaving the machine (the network rule).
		if c, err := net.DialTimeout("tcp4", "10.0.2.15:9", 5*time.Second); err == nil {
			c.Close()
			return errors.New("connected to 10.0.2.15 from an isolated namespace")
		} else if !strings.Contains(err.Error(), "unreachable") || time.Since(start) > time.Second {
			return fmt.Errorf("connect to 10.0.2.15: %v after %s, want network unreachable at once", err, time.Since(start))
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	// A process started inside runs in the namespace.
	out, err := exec.Command(Enter(Path(name))[0], append(Enter(Path(name))[1:], "cat", "/proc/net/route")...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if via := defaultRoute4(strings.NewReader(string(out))); via != "" {
		t.Errorf("a command run with Enter sees a default route via %s", via)
	}
	if err := Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if Exists(name) {
		t.Errorf("%s still there after Delete", Path(name))
	}
}

// Isolated fails closed: a namespace it cannot enter is not isolated.
func TestIsolatedFailsClosed(t *testing.T) {
	if err := Isolated("/nonexistent/netns"); err == nil {
		t.Error("Isolated(a namespace that is not there) = nil, want an error")
	}
	if Isolated("") == nil {
		// This test runs where the machine has a route out (the CI runs it
		// bare); where it does not, the check has nothing to catch.
		if r, _ := os.ReadFile("/proc/net/route"); defaultRoute4(strings.NewReader(string(r))) != "" {
			t.Error("Isolated(\"\") = nil in a namespace with a default route")
		}
	}
}

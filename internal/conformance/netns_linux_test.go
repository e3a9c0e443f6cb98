package conformance

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/leakcheck"
)

// TestNetnsIsolates checks the namespace the host environment relies on: lo is
// up inside, a listener of the host's loopback is out of reach, and a process
// started there sees no interface but lo.
func TestNetnsIsolates(t *testing.T) {
	needNetns(t)
	leakcheck.Check(t)
	outside, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer outside.Close()
	ns, err := newNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()

	var inside net.Listener
	if err := ns.Do(func() (err error) {
		inside, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatalf("listen inside: %v", err)
	}
	defer inside.Close()
	go func() {
		if c, err := inside.Accept(); err == nil {
			c.Close()
		}
	}()
	err = ns.Do(func() error {
		c, err := net.DialTimeout("tcp4", inside.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		t.Errorf("dial a listener of the namespace from inside: %v", err)
	}
	err = ns.Do(func() error {
		c, err := net.DialTimeout("tcp4", outside.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil {
		t.Errorf("dial %s (host loopback) from inside the namespace succeeded", outside.Addr())
	}
	// The rest of the process is not in the namespace.
	c, err := net.DialTimeout("tcp4", outside.Addr().String(), time.Second)
	if err != nil {
		t.Errorf("dial the host's listener from outside: %v", err)
	} else {
		c.Close()
	}

	if _, err := exec.LookPath("ip"); err == nil {
		var out []byte
		if err := ns.Do(func() (err error) {
			out, err = exec.Command("ip", "-o", "-4", "addr").Output()
			return err
		}); err != nil {
			t.Fatalf("ip addr inside: %v", err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f := strings.Fields(l); len(f) < 2 || f[1] != "lo" {
				t.Errorf("a process started inside sees %q, want lo only", l)
			}
		}
	}
}

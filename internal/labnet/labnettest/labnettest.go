// Package labnettest gives a test a lab network of its own (internal/labnet):
// a network namespace with loopback only, and a private dockerd in it when
// the test needs Docker. Every test that runs servers, clients or guests
// makes its own through New, so that `go test ./...` run bare tests the
// containers and VMs too, with no connection leaving the machine.
package labnettest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/labnet"
)

// New returns a lab network for tb, named after the test process and the
// test, with a dockerd when dockerd is true, and takes it down when the test
// ends; anything it had to kill or unmount then fails the test. It skips tb
// when a program the network needs is not installed, naming the package,
// and when the test does not run as root.
func New(tb testing.TB, dockerd bool) *labnet.Net {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("a network namespace of the test's own needs root (run the tests as root)")
	}
	need := [][2]string{{"ip", "iproute2"}, {"nsenter", "util-linux"}}
	if dockerd {
		need = append(need, [2]string{"dockerd", "docker.io"}, [2]string{"docker", "docker.io"})
	}
	for _, n := range need {
		if _, err := exec.LookPath(n[0]); err != nil {
			tb.Skipf("%s not found (try: apt-get install %s)", n[0], n[1])
		}
	}
	sweep()
	sum := sha256.Sum256([]byte(tb.Name()))
	name := fmt.Sprintf("%s%d-%s", prefix, os.Getpid(), hex.EncodeToString(sum[:3]))
	data, err := os.MkdirTemp("/var/tmp", name+"-")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := labnet.Config{Name: name, DataRoot: filepath.Join(data, "docker"), Log: filepath.Join(data, "dockerd.log")}
	n, err := labnet.Up(context.Background(), cfg, dockerd, tb.Logf)
	if err != nil {
		os.RemoveAll(data)
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		leaks, err := labnet.Down(context.Background(), cfg)
		if err != nil {
			tb.Errorf("take the test's lab network down: %v", err)
		}
		for _, l := range leaks {
			tb.Errorf("the test's lab network held a leftover: %s", l)
		}
		if tb.Failed() && dockerd {
			if b, err := os.ReadFile(cfg.Log); err == nil {
				tb.Logf("dockerd's log:\n%s", b)
			}
		}
		os.RemoveAll(data)
	})
	return n
}

// prefix starts the name of every test network: prefix, then the pid of the
// test process that made it.
const prefix = "isolab-t"

// sweep takes down the networks of test processes that are gone (a test
// killed before its cleanup ran), from their names alone.
func sweep() {
	nss, _ := filepath.Glob(filepath.Join("/run/netns", prefix+"*"))
	for _, ns := range nss {
		name := filepath.Base(ns)
		pid, _, ok := strings.Cut(strings.TrimPrefix(name, prefix), "-")
		if _, err := os.Stat("/proc/" + pid); !ok || err == nil {
			continue // still running, or not one of ours
		}
		datas, _ := filepath.Glob(filepath.Join("/var/tmp", name+"-*"))
		cfg := labnet.Config{Name: name}
		if len(datas) == 1 {
			cfg.DataRoot = filepath.Join(datas[0], "docker")
		}
		labnet.Down(context.Background(), cfg)
		for _, d := range datas {
			os.RemoveAll(d)
		}
	}
}

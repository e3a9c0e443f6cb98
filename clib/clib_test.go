package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/procfs"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/submission"
	"github.com/isolab/isolab/internal/testnet"
)

// cxxProgram is testdata/main.cpp linked with isolab's archives.
type cxxProgram struct{ path string }

// env pins every server to 127.0.0.1: the course API has no address parameter.
var env = []string{"ISOLAB_IP=127.0.0.1", "ISOLAB_ACCEPT_TIMEOUT=30s"}

func (p cxxProgram) start(t *testing.T, lc *leakcheck.Checker, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(p.path, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lc.Own(cmd.Process.Pid)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// TestIntegrationCABI links a C++ program written against the course headers
// alone with isolab's libserver.a, libclient.a or both, and runs a host
// scenario with it on 127.0.0.1: servers through the spec functions one by one
// and through run, the client both ways. The five lines must be exact, and
// nothing may be left behind.
func TestIntegrationCABI(t *testing.T) {
	if _, err := exec.LookPath("g++"); err != nil {
		t.Skip("g++ not found (try: apt-get install g++)")
	}
	lc := leakcheck.Check(t)
	ctx := t.Context() // no deadline: a busy machine is slower, not broken
	root, _ := filepath.Abs("..")
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	if err := submission.BuildCLib(ctx, root, lib); err != nil {
		t.Fatalf("BuildCLib: %v", err)
	}
	for _, h := range []string{"globals.h", "server.h", "client.h", "libserver.a", "libclient.a"} {
		if _, err := os.Stat(filepath.Join(lib, h)); err != nil {
			t.Errorf("BuildCLib made no %s: %v", h, err)
		}
	}
	// The same program, linked three ways: the archives are pulled lazily and
	// hold the same objects, so each link must be clean.
	progs := map[string]cxxProgram{}
	for _, link := range []struct {
		name  string
		flags []string
	}{
		{"server-only", []string{"-lserver"}},
		{"client-only-static", []string{"-static", "-lclient"}},
		{"both", []string{"-lserver", "-lclient"}},
	} {
		out := filepath.Join(dir, link.name)
		argv := []string{"-Wall", "-Wextra", "-Werror", "-o", out, "testdata/main.cpp", "-I", lib, "-L", lib}
		argv = append(argv, link.flags...)
		argv = append(argv, "-lpthread")
		if b, err := exec.CommandContext(ctx, "g++", argv...).CombinedOutput(); err != nil {
			t.Fatalf("g++ %s: %v\n%s", strings.Join(argv, " "), err, b)
		}
		progs[link.name] = cxxProgram{out}
	}

	info := filepath.Join(dir, "info")
	os.Mkdir(info, 0o755)
	type server struct {
		name string
		key  shm.Key
		cmd  *exec.Cmd
	}
	startServers := func(round string) []server {
		var servers []server
		for i, how := range []struct{ prog, mode string }{{"server-only", "server"}, {"both", "run-server"}} {
			name := round + strconv.Itoa(i+1)
			path := filepath.Join(dir, name+".key")
			os.WriteFile(path, nil, 0o644)
			key, _ := shm.Ftok(path, 7+i)
			cmd := progs[how.prog].start(t, lc, how.mode, strconv.Itoa(testnet.FreePort(t)), path, strconv.Itoa(7+i),
				info, name, name+"shm", name+"sock")
			servers = append(servers, server{name, key, cmd})
		}
		for _, s := range servers {
			waitFile(t, filepath.Join(info, s.name), s.cmd.Process.Pid)
		}
		return servers
	}
	// A server that is reached by neither channel: refused port, no segment.
	vmKey := filepath.Join(dir, "vm.key")
	os.WriteFile(vmKey, nil, 0o644)
	if _, err := infofile.Write(info, "z-vm", infofile.Info{IP: testnet.Loopback, Port: testnet.FreePort(t), ShmPath: vmKey, ProjID: 9}); err != nil {
		t.Fatal(err)
	}

	for _, round := range []struct{ name, prog, mode string }{
		{"a", "client-only-static", "client"},
		{"b", "both", "run-client"},
	} {
		servers := startServers(round.name)
		cmd := exec.CommandContext(ctx, progs[round.prog].path, round.mode, info)
		cmd.Env = append(os.Environ(), env...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", round.prog, round.mode, err, stderr.String())
		}
		n := round.name
		want := "Total Servers: 3\nHost: 2\nContainer: 0\nVM: 1\nMessages: " +
			n + "1shm " + n + "1sock " + n + "2shm " + n + "2sock\n"
		if string(out) != want {
			t.Errorf("%s %s printed\n%s\nwant\n%s\nstderr: %s", round.prog, round.mode, out, want, stderr.String())
		}
		for _, s := range servers {
			if err := s.cmd.Wait(); err != nil {
				t.Errorf("server %s: %v", s.name, err)
			}
			if _, err := os.Stat(filepath.Join(info, s.name)); err == nil {
				t.Errorf("server %s left its info file", s.name)
			}
			if leakcheck.HasKey(int32(s.key)) {
				t.Errorf("server %s left segment %s", s.name, s.key)
			}
		}
	}
	os.Remove(filepath.Join(info, "z-vm"))

	// A failed system call: one "system error:" line, exit 1, nothing left.
	cmd := exec.CommandContext(ctx, progs["server-only"].path, "server", strconv.Itoa(testnet.FreePort(t)),
		filepath.Join(dir, "missing"), "7", info, "bad", "m", "m")
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("server with a missing shm path: exit %d (%v), want 1", code, err)
	}
	if lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "system error: ") {
		t.Errorf("server with a missing shm path printed %q, want one \"system error: ...\" line", stderr.String())
	}
	if entries, _ := os.ReadDir(info); len(entries) != 0 {
		t.Errorf("info directory not empty: %v", entries)
	}
}

// waitFile waits until the server pid has written its info file path
// (atomically: isolab's server renames it into place), and fails t when
// the server exits first. No deadline of its own: a busy machine is slower,
// not broken (go test's -timeout bounds a hang).
func waitFile(t *testing.T, path string, pid int) {
	t.Helper()
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if !procfs.Live(pid) {
			if _, err := os.Stat(path); err == nil {
				return
			}
			t.Fatalf("server pid %d exited before writing %s", pid, path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

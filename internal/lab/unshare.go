package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/isolab/isolab/internal/scenario"
)

// detectUnshare makes the backend for unshare servers: host processes that
// unshare(1) puts in an IPC namespace of their own (unless ipc is "host") and,
// with network "none", a network namespace of their own. Creating namespaces
// needs root (CAP_SYS_ADMIN), so without it the scenario cannot run.
func (l *Lab) detectUnshare(e *environments) error {
	path, err := exec.LookPath("unshare")
	if err != nil {
		return errors.New("the scenario has an unshare server: unshare not found (try: apt-get install util-linux)")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the scenario has an unshare server: %s --ipc needs root (CAP_SYS_ADMIN)", path)
	}
	h := newHostBackend(l)
	h.argv = func(r *Running) ([]string, error) { return unshareArgv(path, l.ServerBin(), r), nil }
	// unshare execs the server in its own process, so the pid runs the server.
	h.exe = func(*Running) string { return l.ServerBin() }
	e.backends[scenario.EnvUnshare] = h
	return nil
}

// unshareArgv is the command line of an unshare server: unshare(1) with --ipc
// for a private IPC namespace and --net for network "none", then the server.
// Without --fork, unshare execs the server in place: the pid the lab records
// is the server's, and its signals reach the server.
func unshareArgv(unshare, server string, r *Running) []string {
	argv := []string{unshare}
	if r.EffectiveIPC() == scenario.IPCPrivate {
		argv = append(argv, "--ipc")
	}
	if r.EffectiveNetwork() == scenario.NetworkNone {
		argv = append(argv, "--net")
	}
	argv = append(argv, "--", server)
	return append(argv, serverArgs(r)...)
}

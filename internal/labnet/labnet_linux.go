package labnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/procfs"
	"github.com/isolab/isolab/internal/progress"
	"github.com/isolab/isolab/internal/shell"
)

// Up makes the namespace, replacing one of the same name that an earlier
// run left with nothing in it, and with dockerd true starts a dockerd inside
// it and waits until it answers. On failure it takes down what it made.
func Up(ctx context.Context, cfg Config, dockerd bool, logf func(string, ...any)) (n *Net, err error) {
	cfg = cfg.withDefaults()
	if err := netns.CheckName(cfg.Name); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the lab's network namespace %s: making it needs root (try: sudo)", cfg.Name)
	}
	if netns.Exists(cfg.Name) {
		if pids, _ := netns.Pids(ctx, cfg.Name); len(pids) > 0 {
			return nil, fmt.Errorf("network namespace %s is in use by pids %v: is another run of this lab going on? (go tool mage lab:down stops it)", cfg.Name, pids)
		}
		if err := netns.Delete(ctx, cfg.Name); err != nil {
			return nil, err
		}
		logf("removed the stale network namespace %s", cfg.Name)
	}
	start := time.Now()
	if err := netns.Create(ctx, cfg.Name); err != nil {
		return nil, err
	}
	n = &Net{Config: cfg}
	defer func() {
		if err != nil {
			_, derr := Down(context.WithoutCancel(ctx), cfg)
			err = errors.Join(err, derr)
			n = nil
		}
	}()
	if err := netns.Isolated(n.Path()); err != nil {
		return n, err
	}
	logf("network namespace %s up (loopback only) %s", cfg.Name, time.Since(start).Round(time.Millisecond))
	if !dockerd {
		return n, nil
	}
	start = time.Now()
	if n.Dockerd, err = startDockerd(ctx, cfg); err != nil {
		return n, err
	}
	logf("dockerd up in %s %s (DOCKER_HOST=%s, log %s)", cfg.Name, time.Since(start).Round(100*time.Millisecond), n.DockerHost(), cfg.Log)
	return n, nil
}

// Attach finds the lab network of cfg that is up, with its dockerd if one
// runs; it fails when the namespace is not there.
func Attach(cfg Config) (*Net, error) {
	cfg = cfg.withDefaults()
	if !netns.Exists(cfg.Name) {
		return nil, fmt.Errorf("network namespace %s is not there", cfg.Name)
	}
	n := &Net{Config: cfg}
	if pid := dockerdPID(cfg); pid > 0 {
		n.Dockerd = pid
	}
	return n, nil
}

// dockerdCommand is the command line of the private dockerd: its own
// configuration (none of /etc/docker/daemon.json's hosts, bridge or mirrors),
// data root, exec root, socket, pid file and containerd namespaces, so that
// it never meets the machine's dockerd or another lab's.
func dockerdCommand(cfg Config) []string {
	return append(netns.Enter(netns.Path(cfg.Name)),
		"dockerd",
		"--config-file", filepath.Join(cfg.RunDir, "daemon.json"),
		"--data-root", cfg.DataRoot,
		"--exec-root", cfg.execRoot(),
		"-H", "unix://"+cfg.socket(),
		"--pidfile", cfg.pidFile(),
		"--containerd-namespace", "isolab-"+cfg.Name,
		"--containerd-plugins-namespace", "isolab-"+cfg.Name+"-plugins")
}

func startDockerd(ctx context.Context, cfg Config) (int, error) {
	for _, tool := range []string{"dockerd", "docker"} {
		if _, err := exec.LookPath(tool); err != nil {
			return 0, fmt.Errorf("%s not found (try: apt-get install docker.io)", tool)
		}
	}
	if len(cfg.socket()) > 100 {
		return 0, fmt.Errorf("dockerd's socket %s is too long for a unix socket path", cfg.socket())
	}
	if pid := dockerdPID(cfg); pid > 0 {
		return 0, fmt.Errorf("a dockerd (pid %d) already uses %s", pid, cfg.RunDir)
	}
	for _, d := range []string{cfg.RunDir, cfg.DataRoot, filepath.Dir(cfg.Log)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, err
		}
	}
	os.Remove(cfg.pidFile())
	os.Remove(cfg.socket())
	if err := os.WriteFile(filepath.Join(cfg.RunDir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		return 0, err
	}
	log, err := os.OpenFile(cfg.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer log.Close()
	argv := dockerdCommand(cfg)
	fmt.Fprintf(log, "=== %s: %s\n", time.Now().UTC().Format(time.RFC3339), shell.Quote(argv))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own session: a Ctrl-C at the terminal reaches the lab, which
	// stops dockerd after its containers, not dockerd first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	gone := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(gone) }()
	// Wait while dockerd still starts: it exits on a fatal error, and its
	// log grows as it goes; a silent minute is a hang.
	answers := func() bool {
		_, err := shell.Run(ctx, shell.Command{Argv: []string{"docker", "-H", "unix://" + cfg.socket(), "version", "--format", "{{.Server.Version}}"}})
		return err == nil
	}
	err = progress.Wait{
		Done:     func() (bool, error) { return answers(), nil },
		Gone:     gone,
		Progress: func() int64 { return fileSize(cfg.Log) },
		Stall:    time.Minute,
		Poll:     100 * time.Millisecond,
	}.Run(ctx)
	switch {
	case err == nil:
		return cmd.Process.Pid, nil
	case errors.Is(err, progress.ErrGone):
		return 0, fmt.Errorf("dockerd exited (%v) before answering; last lines of %s:\n%s", exitErr, cfg.Log, shell.TailFile(cfg.Log, 15))
	case ctx.Err() != nil:
		cmd.Process.Signal(syscall.SIGTERM)
		return cmd.Process.Pid, ctx.Err()
	}
	return cmd.Process.Pid, fmt.Errorf("dockerd printed nothing for a minute and does not answer on %s; last lines of %s:\n%s", cfg.socket(), cfg.Log, shell.TailFile(cfg.Log, 15))
}

// dockerdPID returns the pid of the dockerd of cfg that runs, or 0.
func dockerdPID(cfg Config) int {
	b, err := os.ReadFile(cfg.pidFile())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if st, err := procfs.ReadStat(pid); err != nil || st.Comm != "dockerd" || st.Zombie() {
		return 0
	}
	return pid
}

// Down stops the dockerd of cfg (which stops its containers first), kills
// every process still in the namespace, deletes it and unmounts what dockerd
// left under its exec root and data root. It returns what it had to kill or
// unmount beyond that, as leaks. Running it again, or for a network that is
// not there, does nothing.
func Down(ctx context.Context, cfg Config) (leaks []string, err error) {
	cfg = cfg.withDefaults()
	var errs []error
	killed := false
	if pid := dockerdPID(cfg); pid > 0 {
		syscall.Kill(pid, syscall.SIGTERM)
		// dockerd stops its containers (10 s each at most) and containerd:
		// waited for while it works at it.
		if !waitGone(pid, time.Minute) {
			syscall.Kill(pid, syscall.SIGKILL)
			waitGone(pid, 5*time.Second)
			killed = true
			errs = append(errs, fmt.Errorf("dockerd (pid %d) did not stop within a minute: killed (log %s)", pid, cfg.Log))
		}
	}
	if netns.Exists(cfg.Name) {
		pids, _ := netns.Pids(ctx, cfg.Name)
		pids = slices.DeleteFunc(pids, func(p int) bool { return p == os.Getpid() }) // never this process
		for _, p := range pids {
			leaks = append(leaks, fmt.Sprintf("process %d (%s) in network namespace %s", p, cmdline(p), cfg.Name))
			syscall.Kill(p, syscall.SIGKILL)
		}
		for _, p := range pids {
			waitGone(p, 5*time.Second)
		}
		if err := netns.Delete(ctx, cfg.Name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, m := range mountsUnder(cfg.execRoot(), cfg.DataRoot) {
		// dockerd keeps EXEC_ROOT/netns/default, its handle on its own
		// namespace, and its data root (bound onto itself, to make it a
		// private mount) mounted after a clean stop too: not leaks.
		kept := m == filepath.Join(cfg.execRoot(), "netns", "default") || m == cfg.DataRoot
		if !kept || killed {
			leaks = append(leaks, "mount "+m+" left by dockerd")
		}
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	for _, p := range []string{cfg.execRoot(), filepath.Join(cfg.RunDir, "daemon.json"), cfg.socket(), cfg.pidFile()} {
		os.RemoveAll(p)
	}
	os.Remove(cfg.RunDir) // kept while it holds dockerd's log
	return leaks, errors.Join(errs...)
}

// mountsUnder lists the mount points at or below any of dirs, deepest first.
func mountsUnder(dirs ...string) []string {
	mounts, _ := procfs.Mounts("/proc/self/mountinfo")
	var found []string
	for _, m := range mounts {
		for _, d := range dirs {
			if m.Point == d || strings.HasPrefix(m.Point, d+"/") {
				found = append(found, m.Point)
			}
		}
	}
	slices.Sort(found)
	slices.Reverse(found)
	return slices.Compact(found)
}

// waitGone waits for pid to exit (or become a zombie) while its session
// uses CPU time, and up to stall without, and reports whether it exited.
func waitGone(pid int, stall time.Duration) bool {
	exited := func() bool { return !procfs.Live(pid) }
	progress.Until(context.Background(), exited, nil, func() int64 { return procfs.SessionTicks(pid) }, stall)
	return exited()
}

func cmdline(pid int) string {
	s := strings.Join(procfs.Cmdline(pid), " ")
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return st.Size()
}

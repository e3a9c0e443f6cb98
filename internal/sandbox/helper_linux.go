package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// traps are where code usually writes outside its own directory; each gets
// an empty private tmpfs, whose content is reported and then gone.
var traps = []string{"/tmp", "/var/tmp", "/dev/shm", "/home"}

// home is the code's home directory, in the /home trap.
const home = "/home/sandbox"

// Main is the helper, cmd/isolab-sandbox: it parses its command line (as
// Policy.Argv writes it), runs the command in the sandbox and returns the
// command's exit status, or 125 when the sandbox could not be set up.
// Its internal stages (-exec, -canary, -kill) are its own re-executions.
func Main(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "-exec":
			return execStage(args[1:])
		case "-canary":
			for {
				unix.Pause() // until killed
			}
		case "-kill":
			return killStage()
		}
	}
	p, argv, err := parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "isolab-sandbox: %v\n", err)
		return 125
	}
	code, err := supervise(p, argv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "isolab-sandbox: %v\n", err)
		return 125
	}
	return code
}

// supervise sets the cage up, runs argv in it as p.UID, watches it, sweeps
// its uid when it ends and writes the report.
func supervise(p Policy, argv []string) (int, error) {
	if os.Geteuid() != 0 {
		return 0, errors.New("must run as root, to set up a mount namespace and drop to another uid")
	}
	// The mount namespace belongs to this thread; the processes it starts
	// (fork copies the thread) inherit it. The thread is never handed back.
	runtime.LockOSThread()
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	if err := cage(p, self); err != nil {
		return 0, err
	}
	cred := &syscall.Credential{Uid: uint32(p.UID), Gid: uint32(p.UID), Groups: []uint32{}}
	canary := exec.Command(self, "-canary")
	canary.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := canary.Start(); err != nil {
		return 0, fmt.Errorf("start the canary: %w", err)
	}
	canaryDone := make(chan struct{})
	go func() { canary.Wait(); close(canaryDone) }()

	l := p.Limits
	stage := []string{self, "-exec", strconv.Itoa(l.Procs), l.CPU.String(), strconv.FormatInt(l.Memory, 10),
		strconv.FormatInt(l.FileSize, 10), strconv.Itoa(l.Files), "--"}
	child := exec.Command(self, append(stage[1:], argv...)...)
	child.Path = self
	child.Dir = p.Dir
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	child.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "TMPDIR=" + p.Dir, "LANG=C.UTF-8"}
	child.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := child.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	rep := Report{UID: p.UID, Limits: l}
	var mu sync.Mutex
	done := make(chan struct{})
	go func() { // the most processes of the uid at once: a fork bomb hits the limit
		for {
			n := len(processes(p.UID, true)) - 1 // the canary
			mu.Lock()
			rep.MaxProcs = max(rep.MaxProcs, n)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	go func() { // SIGTERM passes on; after the grace, the whole uid is killed
		<-signals
		mu.Lock()
		rep.Stopped = true
		mu.Unlock()
		child.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(p.Grace):
			sweep(self, p.UID, canary.Process.Pid)
		}
	}()
	err = child.Wait()
	close(done)
	canaryKilled := closedAlready(canaryDone) // before the sweep, only the code could have
	left := len(Processes(p.UID)) - 1
	sweep(self, p.UID, 0)
	<-canaryDone
	mu.Lock()
	defer mu.Unlock()
	rep.Exit, rep.Signal = status(child.ProcessState, err)
	if ru, ok := child.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rep.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	rep.Left, rep.Canary = max(left, 0), canaryKilled
	rep.Outside = trapped()
	for _, w := range p.Writable {
		var st unix.Statfs_t
		if unix.Statfs(w, &st) == nil && st.Bavail == 0 {
			rep.Full = append(rep.Full, w)
		}
	}
	if p.Report != "" {
		// From another thread, outside the cage: the report's directory is
		// not the code's to write, so the cage has it read-only.
		errc := make(chan error)
		go func() {
			b, _ := json.MarshalIndent(rep, "", "  ")
			errc <- os.WriteFile(p.Report, b, 0o644)
		}()
		if err := <-errc; err != nil {
			return rep.Exit, fmt.Errorf("write the report: %w", err)
		}
	}
	return rep.Exit, nil
}

// Sweep kills every process of uid, as the sandbox does when its code ends,
// with helper (cmd/isolab-sandbox): for code whose sandbox was killed itself.
func Sweep(helper string, uid int) {
	sweep(helper, uid, 0)
}

func closedAlready(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(20 * time.Millisecond):
		return false
	}
}

// status is the exit status of a process and the signal that ended it.
func status(ps *os.ProcessState, err error) (int, string) {
	if ps == nil {
		return -1, ""
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), signalName(ws.Signal())
	}
	// A shell reports its command's death by signal n as 128+n.
	if c := ps.ExitCode(); c > 128 && c < 128+65 {
		return c, signalName(syscall.Signal(c - 128))
	}
	return ps.ExitCode(), ""
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGXCPU:
		return "SIGXCPU"
	case syscall.SIGXFSZ:
		return "SIGXFSZ"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	}
	return unix.SignalName(s)
}

// cage makes this thread's mount namespace the sandbox's: every mount
// read-only and nosuid, the traps, then p.Writable bound back writable, and
// the helper's own binary, self, kept in sight (the helper re-executes
// itself as the code's uid; it may live under a trap, in a test's /tmp).
func cage(p Policy, self string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return os.NewSyscallError("unshare CLONE_NEWNS", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return os.NewSyscallError("mount --make-rprivate /", err)
	}
	// Handles on the writable directories and the helper, in this
	// namespace, taken before the traps may hide them (under /tmp).
	var fds []int
	for _, w := range append(slices.Clone(p.Writable), self) {
		fd, err := unix.Open(w, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		defer unix.Close(fd)
		fds = append(fds, fd)
	}
	mounts, err := mountPoints()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		flags := uintptr(unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID) | m.flags
		if err := unix.Mount("", m.dir, "", flags, ""); err != nil && m.dir == "/" {
			return fmt.Errorf("make / read-only: %w", os.NewSyscallError("mount", err))
		}
	}
	for _, t := range traps {
		if st, err := os.Stat(t); err != nil || !st.IsDir() {
			continue
		}
		if err := unix.Mount("isolab-trap", t, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=16m,mode=1777"); err != nil {
			return fmt.Errorf("trap on %s: %w", t, os.NewSyscallError("mount", err))
		}
	}
	if err := os.MkdirAll(home, 0o755); err == nil {
		os.Chown(home, p.UID, p.UID)
	}
	for i, w := range p.Writable {
		if err := os.MkdirAll(w, 0o755); err != nil { // a mount point inside a trap
			return err
		}
		if err := bind(fds[i], w, unix.MS_NOSUID|unix.MS_NODEV); err != nil {
			return err
		}
	}
	if _, err := os.Stat(self); err != nil { // hidden by a trap: a file to bind it on
		os.MkdirAll(filepath.Dir(self), 0o755)
		if err := os.WriteFile(self, nil, 0o755); err != nil {
			return err
		}
		return bind(fds[len(fds)-1], self, unix.MS_RDONLY|unix.MS_NODEV)
	}
	return nil
}

// bind mounts what fd (an O_PATH handle) names on target, with flags.
func bind(fd int, target string, flags uintptr) error {
	src := fmt.Sprintf("/proc/thread-self/fd/%d", fd)
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", target, os.NewSyscallError("mount", err))
	}
	if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|flags, ""); err != nil {
		return fmt.Errorf("remount %s: %w", target, os.NewSyscallError("mount", err))
	}
	return nil
}

type mount struct {
	dir   string
	flags uintptr // the per-mount flags to keep (nodev, noexec, atime)
}

// mountPoints lists this thread's mounts, shallowest first.
func mountPoints() ([]mount, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		m := mount{dir: unescape(fields[4])}
		for _, o := range strings.Split(fields[5], ",") {
			switch o {
			case "nodev":
				m.flags |= unix.MS_NODEV
			case "noexec":
				m.flags |= unix.MS_NOEXEC
			case "noatime":
				m.flags |= unix.MS_NOATIME
			case "nodiratime":
				m.flags |= unix.MS_NODIRATIME
			case "relatime":
				m.flags |= unix.MS_RELATIME
			}
		}
		out = append(out, m)
	}
	slices.SortStableFunc(out, func(a, b mount) int { return len(a.dir) - len(b.dir) })
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// trapped lists the files written in the traps: those on a trap's own file
// system, not on what is bound into it (the writable directories, the
// helper).
func trapped() []string {
	var out []string
	for _, t := range traps {
		var root unix.Stat_t
		if unix.Stat(t, &root) != nil {
			continue
		}
		filepath.WalkDir(t, func(path string, d fs.DirEntry, err error) error {
			var st unix.Stat_t
			if err != nil || unix.Lstat(path, &st) != nil {
				return nil
			}
			if st.Dev != root.Dev {
				return filepath.SkipDir // a bind mount: not the trap's
			}
			if !d.IsDir() {
				out = append(out, path)
			}
			return nil
		})
	}
	slices.Sort(out)
	return out
}

// execStage runs as the code's uid already: it lowers its limits, forbids
// new privileges and execs the code. Its arguments are the limits, then
// "--" and the command.
func execStage(args []string) int {
	if len(args) < 7 || args[5] != "--" {
		fmt.Fprintln(os.Stderr, "isolab-sandbox -exec: bad arguments")
		return 125
	}
	procs, _ := strconv.ParseUint(args[0], 10, 64)
	cpu, _ := time.ParseDuration(args[1])
	mem, _ := strconv.ParseUint(args[2], 10, 64)
	fsize, _ := strconv.ParseUint(args[3], 10, 64)
	files, _ := strconv.ParseUint(args[4], 10, 64)
	secs := uint64(cpu.Seconds() + 0.999)
	for _, r := range []struct {
		res        int
		soft, hard uint64
	}{
		{unix.RLIMIT_NPROC, procs, procs},
		{unix.RLIMIT_CPU, secs, secs + 1},
		{unix.RLIMIT_AS, mem, mem},
		{unix.RLIMIT_FSIZE, fsize, fsize},
		{unix.RLIMIT_NOFILE, files, files},
		{unix.RLIMIT_CORE, 0, 0},
	} {
		if err := unix.Setrlimit(r.res, &unix.Rlimit{Cur: r.soft, Max: r.hard}); err != nil {
			fmt.Fprintf(os.Stderr, "isolab-sandbox: setrlimit %d: %v\n", r.res, err)
			return 125
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "isolab-sandbox: no_new_privs: %v\n", err)
		return 125
	}
	argv := args[6:]
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "isolab-sandbox: %v\n", err)
		return 127
	}
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "isolab-sandbox: exec %s: %v\n", path, err)
	return 126
}

// killStage runs as the code's uid: kill(-1) reaches every process of that
// uid but itself.
func killStage() int {
	unix.Kill(-1, unix.SIGKILL)
	return 0
}

// sweep kills every process of uid but spare (0: none), until none is
// left: a kill(-1) from that uid itself, repeated while a fork bomb still
// forks.
func sweep(self string, uid, spare int) {
	for range 100 {
		left := slices.DeleteFunc(Processes(uid), func(p int) bool { return p == spare })
		if len(left) == 0 {
			return
		}
		if spare != 0 {
			for _, p := range left { // the canary must live: not kill(-1)
				unix.Kill(p, unix.SIGKILL)
			}
		} else {
			k := exec.Command(self, "-kill")
			k.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
			k.Run()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Processes lists the pids of the live processes whose real uid is uid.
func Processes(uid int) []int { return processes(uid, false) }

// processes lists the processes whose real uid is uid, the exited ones not
// yet reaped too if zombies is true (they count against RLIMIT_NPROC).
func processes(uid int, zombies bool) []int {
	des, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range des {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/status")
		if err != nil {
			continue
		}
		var state string
		var ruid int = -1
		for _, l := range strings.Split(string(b), "\n") {
			switch {
			case strings.HasPrefix(l, "State:"):
				state = strings.TrimSpace(strings.TrimPrefix(l, "State:"))
			case strings.HasPrefix(l, "Uid:"):
				if f := strings.Fields(l); len(f) > 1 {
					ruid, _ = strconv.Atoi(f[1])
				}
			}
		}
		if ruid == uid && (zombies || !strings.HasPrefix(state, "Z")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

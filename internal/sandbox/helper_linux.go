package sandbox

import (
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
	"unsafe"

	"github.com/isolab/isolab/internal/procfs"
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
// Its internal stages (-exec, -kill) are its own re-executions; -canary UID
// is the canary StartCanary starts.
func Main(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "-exec":
			return execStage(args[1:])
		case "-canary":
			return canaryStage(args[1:])
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

// supervise sets the cage up, runs argv in it as p.UID, watches it, kills
// what it left when it ends and writes the report. Other processes may run
// as the same uid (the programs of one trial share one, as they would one
// user); the helper watches its own process group: the code and what it
// started.
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
	seen := []string{self} // the helper re-executes itself as the code's uid
	if filepath.IsAbs(argv[0]) {
		seen = append(seen, argv[0])
	}
	seen = append(seen, p.Visible...)
	if err := cage(p, seen); err != nil {
		return 0, err
	}
	l := p.Limits
	stage := []string{"-exec", strconv.Itoa(l.Procs), l.CPU.String(), strconv.FormatInt(l.Memory, 10),
		strconv.FormatInt(l.FileSize, 10), strconv.Itoa(l.Files), "--"}
	child := exec.Command(self, append(stage, argv...)...)
	child.Dir = p.Dir
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	child.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "TMPDIR=" + p.Dir, "LANG=C.UTF-8"}
	child.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(p.UID), Gid: uint32(p.UID), Groups: []uint32{}}}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := child.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	started := time.Now()
	rep := Report{UID: p.UID, Limits: l}
	var mu sync.Mutex
	done := make(chan struct{})
	go func() { // the most processes at once: a fork bomb hits the limit
		for {
			pids := group(p.UID)
			n := len(pids)
			mu.Lock()
			rep.MaxProcs = max(rep.MaxProcs, n)
			for _, pid := range pids { // the last sample of each is its total
				if d, ok := procfs.Runnable(pid); ok {
					rep.Busiest = max(rep.Busiest, d.Seconds())
				}
			}
			bomb := n >= l.Procs*3/4 && !rep.Bomb // sampled: the very peak may pass unseen
			rep.Bomb = rep.Bomb || bomb
			mu.Unlock()
			if bomb { // the bomb stopped at once: it would only keep the CPUs busy
				killGroup(p.UID, child.Process.Pid)
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	graced := make(chan []string, 1) // after a stop: what was killed at the grace's end
	go func() {                      // SIGTERM passes on; after the grace, everything it started is killed
		<-signals
		mu.Lock()
		rep.Stopped = true
		mu.Unlock()
		child.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
			graced <- nil
		case <-time.After(p.Grace):
			graced <- killGroup(p.UID, 0)
		}
	}()
	err = child.Wait()
	close(done)
	mu.Lock()
	stopped := rep.Stopped
	mu.Unlock()
	var killed []string
	if stopped {
		killed = <-graced
	}
	peak := len(group(p.UID)) // what it left, its zombies too: a peak the sampler may have missed
	killed = append(killed, killGroup(p.UID, 0)...)
	mu.Lock()
	defer mu.Unlock()
	rep.Left = killed
	rep.MaxProcs = max(rep.MaxProcs, peak)
	rep.Bomb = rep.Bomb || rep.MaxProcs >= l.Procs*3/4
	rep.Exit, rep.Signal = status(child.ProcessState, err)
	if ru, ok := child.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rep.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	rep.Wall = time.Since(started).Seconds()
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

// group lists the processes of uid in this helper's process group: the
// code and what it started (a process may leave the group with setsid; the
// caller's sweep of the uid catches it).
func group(uid int) []int {
	pgid := unix.Getpgrp()
	var pids []int
	for _, p := range processes(uid, true) {
		if g, err := unix.Getpgid(p); err == nil && g == pgid {
			pids = append(pids, p)
		}
	}
	return pids
}

// killGroup kills the processes of uid in this helper's process group but
// spare (0: none), until none is left, and names those it found alive at
// first.
func killGroup(uid, spare int) []string {
	var first []string
	for i := range 100 {
		var live []int
		for _, p := range group(uid) {
			if p != spare && procfs.Live(p) {
				live = append(live, p)
			}
		}
		if i == 0 {
			for _, p := range live {
				first = append(first, describe(p))
			}
		}
		if len(live) == 0 {
			break
		}
		for _, p := range live {
			unix.Kill(p, unix.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return first
}

// describe names a process for a report: its pid and command line, cut
// short.
func describe(pid int) string {
	cmd := strings.Join(procfs.Cmdline(pid), " ")
	if len(cmd) > 80 {
		cmd = cmd[:77] + "..."
	}
	return fmt.Sprintf("pid %d: %s", pid, cmd)
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
// the files of seen kept in sight, read-only, should a trap hide them (a
// binary under a test's /tmp).
func cage(p Policy, seen []string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return os.NewSyscallError("unshare CLONE_NEWNS", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return os.NewSyscallError("mount --make-rprivate /", err)
	}
	// Handles on the writable directories and the helper, in this
	// namespace, taken before the traps may hide them (under /tmp).
	var fds []int
	for _, w := range append(slices.Clone(p.Writable), seen...) {
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
		if p.UserNS && m.dir == "/proc" {
			// A user namespace's maps are written under /proc/PID; its
			// files are guarded by their own permissions.
			continue
		}
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
	// The hidden directories, shallowest first (one may hold another, gone
	// then): writable until what must be seen under them is bound back.
	hidden := slices.Clone(p.Hidden)
	slices.SortFunc(hidden, func(a, b string) int { return len(a) - len(b) })
	var screens []string
	for _, h := range hidden {
		if st, err := os.Stat(h); err != nil || !st.IsDir() {
			continue
		}
		if err := unix.Mount("isolab-hidden", h, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=1m,mode=0755"); err != nil {
			return fmt.Errorf("hide %s: %w", h, os.NewSyscallError("mount", err))
		}
		screens = append(screens, h)
	}
	if err := os.MkdirAll(home, 0o755); err == nil {
		os.Chown(home, p.UID, p.UID)
	}
	if err := account(p.UID); err != nil {
		return err
	}
	for i, w := range p.Writable {
		if err := os.MkdirAll(w, 0o755); err != nil { // a mount point inside a trap
			return err
		}
		if err := bind(fds[i], w, unix.MS_NOSUID|unix.MS_NODEV); err != nil {
			return err
		}
	}
	for i, f := range seen {
		if _, err := os.Stat(f); err == nil {
			continue
		}
		// Hidden by a trap: a file or directory to bind it on. A writable
		// directory may hold it too, as a build's binaries: seen after the
		// binds.
		var st unix.Stat_t
		if err := unix.Fstat(fds[len(p.Writable)+i], &st); err != nil {
			return os.NewSyscallError("fstat", err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := os.MkdirAll(f, 0o755); err != nil {
				return err
			}
		} else {
			os.MkdirAll(filepath.Dir(f), 0o755)
			if err := os.WriteFile(f, nil, 0o755); err != nil {
				return err
			}
		}
		if err := bind(fds[len(p.Writable)+i], f, unix.MS_RDONLY|unix.MS_NODEV); err != nil {
			return err
		}
	}
	for _, h := range screens {
		if err := unix.Mount("", h, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=1m,mode=0755"); err != nil {
			return fmt.Errorf("hide %s: %w", h, os.NewSyscallError("mount", err))
		}
	}
	return nil
}

// accountDir holds the sandbox's /etc/passwd and /etc/group: a tmpfs of
// its own in the /home trap, so that trapped (which skips other mounts)
// does not count them as the code's writes.
const accountDir = "/home/.isolab-account"

// account gives uid an account, "sandbox" with its home in the trap: the
// machine's /etc/passwd and /etc/group and one line each, bound read-only
// over them. Programs that look their user up (getpwuid(3), whoami,
// Apptainer, which refuses a uid with no account) find one.
func account(uid int) error {
	if err := os.MkdirAll(accountDir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("isolab-account", accountDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=1m,mode=0755"); err != nil {
		return fmt.Errorf("account: %w", os.NewSyscallError("mount", err))
	}
	id := strconv.Itoa(uid)
	for file, line := range map[string]string{
		"/etc/passwd": "sandbox:x:" + id + ":" + id + ":isolab sandbox:" + home + ":/bin/sh\n",
		"/etc/group":  "sandbox:x:" + id + ":\n",
	} {
		b, _ := os.ReadFile(file)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			b = append(b, '\n')
		}
		own := filepath.Join(accountDir, filepath.Base(file))
		if err := os.WriteFile(own, append(b, line...), 0o644); err != nil {
			return fmt.Errorf("account: %w", err)
		}
		if err := unix.Mount(own, file, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("account: bind %s: %w", file, os.NewSyscallError("mount", err))
		}
		if err := unix.Mount("", file, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
			return fmt.Errorf("account: remount %s: %w", file, os.NewSyscallError("mount", err))
		}
	}
	if err := unix.Mount("", accountDir, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=1m,mode=0755"); err != nil {
		return fmt.Errorf("account: %w", os.NewSyscallError("mount", err))
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
	mounts, err := procfs.Mounts("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []mount
	for _, pm := range mounts {
		m := mount{dir: pm.Point}
		for _, o := range pm.Options {
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
	return out, nil
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
	// Everything exec needs is allocated before the limits: past
	// RLIMIT_AS, the Go runtime here may fail to map one more page of its
	// heap and die ("out of memory", seen on a busy machine).
	argv := args[6:]
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "isolab-sandbox: %v\n", err)
		return 127
	}
	pathp, err1 := unix.BytePtrFromString(path)
	argvp, err2 := syscall.SlicePtrFromStrings(argv)
	envp, err3 := syscall.SlicePtrFromStrings(os.Environ())
	if err := errors.Join(err1, err2, err3); err != nil {
		fmt.Fprintf(os.Stderr, "isolab-sandbox: exec %s: %v\n", path, err)
		return 126
	}
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
	_, _, errno := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(pathp)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])))
	runtime.KeepAlive(pathp)
	runtime.KeepAlive(argvp)
	runtime.KeepAlive(envp)
	fmt.Fprintf(os.Stderr, "isolab-sandbox: exec %s: %v\n", path, errno)
	return 126
}

// canaryStage drops to the uid its argument names and sleeps until killed.
func canaryStage(args []string) int {
	uid, err := strconv.Atoi(strings.Join(args, ""))
	if err != nil || uid < 1000 {
		return 125
	}
	if unix.Setgroups(nil) != nil || syscall.Setgid(uid) != nil || syscall.Setuid(uid) != nil {
		return 125
	}
	for {
		unix.Pause()
	}
}

// killStage runs as the code's uid: kill(-1) reaches every process of that
// uid but itself.
func killStage() int {
	unix.Kill(-1, unix.SIGKILL)
	return 0
}

// sweep kills every process of uid, until none is left, and returns how
// many it could not kill. Each round is a kill(-1) from that uid itself:
// it reaches a fork bomb's newest children too, and nothing of another
// uid (a pid listed here may be reused by the time a signal from root
// reached it). It goes on while the count falls, however slow the
// machine, and gives up after a second with no fall (a process stuck in
// the kernel, which no signal ends).
func sweep(helper string, uid int) int {
	left, fell := Processes(uid), time.Now()
	for len(left) > 0 && time.Since(fell) < time.Second {
		k := exec.Command(helper, "-kill")
		k.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
		if err := k.Run(); err != nil && k.ProcessState == nil {
			// The uid cannot run the helper (a directory it may not
			// enter): root kills what it listed, each pid checked first.
			for _, p := range left {
				if ruid, err := procfs.RealUID(p); err == nil && ruid == uid {
					unix.Kill(p, unix.SIGKILL)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
		now := Processes(uid)
		if len(now) < len(left) {
			fell = time.Now()
		}
		left = now
	}
	return len(left)
}

// Canary is a process of a uid that does nothing: code of that uid that
// kills every process it can (kill(-1)) kills it too, and so tells.
type Canary struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// StartCanary starts a canary of uid with helper (cmd/isolab-sandbox), in a
// process group of its own, which a signal to another group misses.
func StartCanary(helper string, uid int) (*Canary, error) {
	c := &Canary{cmd: exec.Command(helper, "-canary", strconv.Itoa(uid)), done: make(chan struct{})}
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start a canary: %w", err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	// Not ready until it runs as uid: a kill(-1) of uid before that would
	// miss it, and go untold.
	for {
		if ruid, err := procfs.RealUID(c.cmd.Process.Pid); err == nil && ruid == uid {
			return c, nil
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("start a canary of uid %d: it exited (%v)", uid, c.cmd.ProcessState)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Killed reports whether the canary has died: something killed it.
func (c *Canary) Killed() bool {
	select {
	case <-c.done:
		return true
	case <-time.After(20 * time.Millisecond):
		return false
	}
}

// Stop ends the canary; stopping it again does nothing.
func (c *Canary) Stop() {
	c.cmd.Process.Kill()
	<-c.done
}

// Processes lists the pids of the live processes whose real uid is uid
// (-1: of every uid).
func Processes(uid int) []int { return processes(uid, false) }

// processes lists the processes whose real uid is uid, the exited ones not
// yet reaped too if zombies is true (they count against RLIMIT_NPROC).
func processes(uid int, zombies bool) []int {
	var pids []int
	for _, pid := range procfs.PIDs() {
		ruid, err := procfs.RealUID(pid)
		if err != nil || (uid >= 0 && ruid != uid) {
			continue
		}
		if zombies || procfs.Live(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Clean removes what uid still has on the machine once its code has ended,
// and names it: processes (a helper that was killed itself could not stop
// them; one that left its process group with setsid), killed with helper
// (cmd/isolab-sandbox), and the System V segments it created.
func Clean(helper string, uid int) []string {
	var left []string
	if pids := Processes(uid); len(pids) > 0 {
		var names []string
		for _, p := range pids {
			names = append(names, describe(p))
		}
		what := fmt.Sprintf("%d processes of its uid still ran (%s)", len(pids), strings.Join(names, "; "))
		if alive := sweep(helper, uid); alive > 0 {
			left = append(left, fmt.Sprintf("%s: %d of them would not die", what, alive))
		} else {
			left = append(left, what+": killed")
		}
	}
	b, _ := os.ReadFile("/proc/sysvipc/shm")
	for _, l := range strings.Split(string(b), "\n")[1:] {
		// key shmid perms size cpid lpid nattch uid gid cuid cgid ...
		f := strings.Fields(l)
		if len(f) < 10 || f[9] != strconv.Itoa(uid) {
			continue
		}
		if id, err := strconv.Atoi(f[1]); err == nil {
			unix.SysvShmCtl(id, unix.IPC_RMID, nil)
			key, _ := strconv.ParseInt(f[0], 10, 64)
			left = append(left, fmt.Sprintf("left segment 0x%08x: removed", uint32(key)))
		}
	}
	return left
}

package guestinit

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Main is PID 1. It never returns: it powers the guest off, after the server
// has exited or a step before it failed.
func Main() {
	start := time.Now()
	code, err := boot(start)
	if err != nil {
		say("%v", err)
	}
	say("powering off (server status %d, %s after start)", code, since(start))
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {} // PID 1 must not exit: the kernel would panic
}

// boot sets the guest up, runs the server and returns its exit status.
func boot(start time.Time) (int, error) {
	if err := mountKernelFS(); err != nil {
		return -1, err
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return -1, err
	}
	cfg, err := ParseCmdline(string(cmdline))
	if err != nil {
		return -1, err
	}
	if err := nameGuest(cfg.Name); err != nil {
		return -1, err
	}
	// Ctrl-Alt-Del no longer resets the machine: the kernel sends PID 1
	// SIGINT instead, which becomes the server's SIGTERM.
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		return -1, os.NewSyscallError("reboot CAD_OFF", err)
	}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, unix.SIGINT, unix.SIGTERM, unix.SIGCHLD)
	n, err := loadModules()
	if err != nil {
		return -1, err
	}
	say("loaded %d modules (%s)", n, since(start))
	if err := configureNetwork(cfg); err != nil {
		return -1, err
	}
	if err := mountShare(cfg.Share); err != nil {
		return -1, err
	}
	say("network %s via %s, share %s (%s)", cfg.Addr, cfg.GW, cfg.Share, since(start))
	defer unix.Unmount(cfg.Share, 0)
	if cfg.Debug {
		if err := startShell(); err != nil {
			say("no debug shell: %v", err)
		}
	}
	code := runServer(cfg, signals)
	if cfg.Status != "" {
		if err := writeStatus(cfg.Status, code); err != nil {
			return code, err
		}
	}
	return code, nil
}

// say writes one progress line to the console.
func say(format string, args ...any) {
	fmt.Fprintf(os.Stdout, Prefix+format+"\n", args...)
}

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }

// mountKernelFS mounts what programs expect of a Linux system: /proc, /sys,
// /dev (with /dev/pts and /dev/shm), /run and /tmp.
func mountKernelFS() error {
	for _, m := range []struct{ what, where, fstype, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755"},
		{"devpts", "/dev/pts", "devpts", "gid=5,mode=620,ptmxmode=000"},
		{"tmpfs", "/dev/shm", "tmpfs", "mode=1777"},
		{"tmpfs", "/run", "tmpfs", "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", "mode=1777"},
	} {
		if err := os.MkdirAll(m.where, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.what, m.where, m.fstype, unix.MS_NOSUID, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.where, err)
		}
	}
	return nil
}

// nameGuest sets the host name and writes /etc/hostname and /etc/hosts as a
// Debian install has them.
func nameGuest(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return os.NewSyscallError("sethostname", err)
	}
	return errors.Join(
		os.WriteFile("/etc/hostname", []byte(name+"\n"), 0o644),
		os.WriteFile("/etc/hosts", []byte(Hosts(name)), 0o644))
}

// loadModules loads the modules ModulesFile lists, with their dependencies,
// with finit_module(2): no modprobe, no udev. Loading a driver binds it to
// its devices on the spot.
func loadModules() (int, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return 0, os.NewSyscallError("uname", err)
	}
	dir := filepath.Join("/usr/lib/modules", unix.ByteSliceToString(uts.Release[:]))
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return 0, err
	}
	list, err := os.ReadFile(ModulesFile)
	if err != nil {
		return 0, err
	}
	var names []string
	for _, l := range strings.Split(string(list), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			names = append(names, l)
		}
	}
	files, err := LoadOrder(string(dep), names)
	if err != nil {
		return 0, err
	}
	for _, f := range files {
		if err := loadModule(filepath.Join(dir, f)); err != nil {
			return 0, err
		}
	}
	return len(files), nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load module %s: %w", path, os.NewSyscallError("finit_module", err))
	}
	return nil
}

// mountShare mounts the lab's shared directory, retrying while the 9p
// transport's device is still being probed.
func mountShare(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	const opts = "trans=virtio,version=9p2000.L,msize=512000,cache=none"
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err = unix.Mount("labshare", dir, "9p", 0, opts); err == nil {
			return nil
		}
		if !errors.Is(err, unix.ENOENT) {
			break
		}
	}
	return fmt.Errorf("mount the share on %s: %w", dir, err)
}

// startShell starts a root shell on the console (lab.debug=1).
func startShell() error {
	sh := "/bin/bash"
	if _, err := os.Stat(sh); err != nil {
		sh = "/bin/sh"
	}
	tty, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer tty.Close()
	_, err = os.StartProcess(sh, []string{"-bash", "-l"}, &os.ProcAttr{
		Dir:   "/root",
		Env:   []string{"TERM=vt220", "HOME=/root", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Files: []*os.File{tty, tty, tty},
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: true},
	})
	if err == nil {
		say("root shell on the console (lab.debug=1)")
	}
	return err
}

// uidProcs bounds the processes of a server run as another uid: the
// sandbox's on the host (sandbox.RunLimits).
const uidProcs = 128

// runServer starts the server with its output on the console (unless a stop
// came first), passes SIGINT (Ctrl-Alt-Del) and SIGTERM on to it as SIGTERM, reaps every process that
// ends (PID 1 adopts orphans) and returns the server's exit status: 128+n
// after signal n.
func runServer(cfg Config, signals <-chan os.Signal) int {
	attr := &os.ProcAttr{
		Dir:   "/",
		Env:   []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/"},
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}
	if cfg.UID >= 0 {
		attr.Sys.Credential = &syscall.Credential{Uid: uint32(cfg.UID), Gid: uint32(cfg.UID)}
		// A server that is not isolab's runs as that uid: a fork bomb of it
		// stops at the sandbox's process limit instead of bringing down the
		// guest (and its status file) with PID 1. Root, forking here, is
		// not held by it; the server inherits it.
		lim := &unix.Rlimit{Cur: uidProcs, Max: uidProcs}
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, lim); err != nil {
			say("no process limit for uid %d: %v", cfg.UID, err)
		}
	}
	// A stop asked for while the guest booted: the server never runs, so
	// nothing is half done, and the guest powers off at once.
	for pending := true; pending; {
		select {
		case sig := <-signals:
			if sig != unix.SIGCHLD {
				say("%v before the server started: not starting it", sig)
				return 0
			}
		default:
			pending = false
		}
	}
	say("%s %s %s", StartLine[len(Prefix):], cfg.Bin, strings.Join(cfg.Args, " "))
	p, err := os.StartProcess(cfg.Bin, append([]string{cfg.Bin}, cfg.Args...), attr)
	if err != nil {
		say("start %s: %v", cfg.Bin, err)
		return 127
	}
	for {
		if code, done := reap(p.Pid); done {
			say("server exited %d", code)
			return code
		}
		if sig := <-signals; sig != unix.SIGCHLD {
			say("%v: stopping the server", sig)
			unix.Kill(p.Pid, unix.SIGTERM)
		}
	}
}

// reap collects every child that has ended and reports whether the server
// (pid) was among them, with its exit status.
func reap(pid int) (code int, done bool) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err != nil || got <= 0 {
			return code, done
		}
		if got == pid {
			done = true
			code = ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
	}
}

// writeStatus writes code to path atomically (a temporary, then rename), so
// the host never reads half a number.
func writeStatus(path string, code int) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(code)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write the exit status: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write the exit status: %w", err)
	}
	return nil
}

package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DetectAccel chooses the accelerator as ChooseAccel does, from LAB_ACCEL,
// /proc/cpuinfo and whether /dev/kvm opens read-write.
func DetectAccel() (Accel, string, error) {
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "", "", fmt.Errorf("choose VM accelerator: %w", err)
	}
	kvm := false
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		kvm = true
	}
	return ChooseAccel(os.Getenv("LAB_ACCEL"), CPUFlags(string(cpuinfo)), kvm)
}

// Start boots the guest: it makes a fresh qcow2 overlay over the image, logs
// the QEMU command line (and writes it to CommandFile), and runs QEMU, which
// detaches once the guest is set up and outlives the caller. It returns when
// QEMU has detached; WaitReady waits for the server.
func (m *Machine) Start(ctx context.Context) error {
	c := m.Config
	if pid, ok := m.PID(); ok {
		return fmt.Errorf("start VM %s: already running as pid %d (stop it first)", c.Name, pid)
	}
	accel, why := c.Accel, "configured"
	if accel == "" {
		var err error
		if accel, why, err = DetectAccel(); err != nil {
			return fmt.Errorf("start VM %s: %w", c.Name, err)
		}
	}
	m.logf("accelerator %s (%s)", accel, why)
	debug := os.Getenv("LAB_VM_DEBUG") == "1"
	argv, err := m.argv(accel, debug)
	if err != nil {
		return fmt.Errorf("start VM %s: %w", c.Name, err)
	}
	qemu, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("start VM %s: %w (try: apt-get install qemu-system-x86)", c.Name, err)
	}
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return fmt.Errorf("start VM %s: %w (try: apt-get install qemu-utils)", c.Name, err)
	}
	if err := os.MkdirAll(c.RunDir, 0o755); err != nil {
		return fmt.Errorf("start VM %s: %w", c.Name, err)
	}
	if err := m.removeFiles(); err != nil { // leftovers of a guest that is gone
		return fmt.Errorf("start VM %s: %w", c.Name, err)
	}
	disk, err := filepath.Abs(c.Image.Disk)
	if err != nil {
		return fmt.Errorf("start VM %s: %w", c.Name, err)
	}
	if out, err := exec.CommandContext(ctx, qemuImg, "create", "-q", "-f", "qcow2",
		"-F", "raw", "-b", disk, m.Overlay).CombinedOutput(); err != nil {
		return fmt.Errorf("start VM %s: create overlay %s: %w: %s", c.Name, m.Overlay, err, bytes.TrimSpace(out))
	}
	line := shellQuote(argv)
	if c.NewNetNS {
		line = "unshare --net " + line
	}
	m.logf("%s", line)
	if err := os.WriteFile(m.CommandFile, []byte(line+"\n"), 0o644); err != nil {
		return errors.Join(fmt.Errorf("start VM %s: %w", c.Name, err), m.removeFiles())
	}
	cmd := exec.CommandContext(ctx, qemu, argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr // only before it detaches
	if c.NewNetNS {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	}
	if err := cmd.Run(); err != nil {
		return errors.Join(fmt.Errorf("start VM %s: %s: %w: %s", c.Name, argv[0], err, bytes.TrimSpace(stderr.Bytes())),
			m.removeFiles())
	}
	if _, ok := m.PID(); !ok {
		return errors.Join(fmt.Errorf("start VM %s: QEMU detached but is not running; %s", c.Name, m.serialTail()),
			m.removeFiles())
	}
	if debug {
		m.logf("LAB_VM_DEBUG=1: root shell on the console: socat -,raw,echo=0 UNIX-CONNECT:%s", m.Console)
	}
	return nil
}

// WaitReady waits until infoFile, the server's info file in the shared
// directory, exists; remove a stale one before Start. It fails early when QEMU
// exits, and on timeout returns an error that wraps os.ErrDeadlineExceeded;
// both carry the serial log's tail.
func (m *Machine) WaitReady(ctx context.Context, infoFile string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(infoFile); err == nil {
			return nil
		}
		if _, ok := m.PID(); !ok {
			return fmt.Errorf("wait for VM %s: QEMU exited before %s appeared; %s", m.Config.Name, infoFile, m.serialTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for VM %s: no %s after %s: %w; %s",
				m.Config.Name, infoFile, timeout, os.ErrDeadlineExceeded, m.serialTail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for VM %s: %w", m.Config.Name, ctx.Err())
		case <-tick.C:
		}
	}
}

// Stop powers the guest off cleanly, so that its server gets SIGTERM and
// removes its own info file and segment, and waits for QEMU to exit. A guest
// still running after powerOffWait is killed by pid (SIGTERM, then SIGKILL).
// Then the overlay, pid file and socket go. Stopping a guest that is not
// running only removes those files, so Stop can be called again.
func (m *Machine) Stop(ctx context.Context) error {
	const powerOffWait = 20 * time.Second // about 0.4 s under TCG when booted
	var errs []error
	if pid, ok := m.PID(); ok {
		start := time.Now()
		if err := pressCtrlAltDel(ctx, m.QMPSocket); err != nil {
			m.logf("no clean power-off: %v", err)
		} else if m.waitExit(ctx, pid, powerOffWait) {
			m.logf("powered off in %.1fs", time.Since(start).Seconds())
		}
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			if _, ok := m.PID(); !ok {
				break
			}
			m.logf("QEMU pid %d still running; sending %v", pid, sig)
			if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("stop VM %s: kill pid %d: %w", m.Config.Name, pid, err))
			}
			m.waitExit(ctx, pid, 3*time.Second)
		}
		if _, ok := m.PID(); ok {
			errs = append(errs, fmt.Errorf("stop VM %s: QEMU pid %d survived SIGKILL", m.Config.Name, pid))
		}
		// The exited QEMU stays a zombie until init reaps it, which some
		// inits do late; leak checks (pgrep) would take it for a running
		// one. Give init a moment, without failing if it takes longer.
		for deadline := time.Now().Add(3 * time.Second); zombie(pid) && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := m.removeFiles(); err != nil {
		errs = append(errs, fmt.Errorf("stop VM %s: %w", m.Config.Name, err))
	}
	return errors.Join(errs...)
}

// waitExit waits up to d for QEMU to exit and reports whether it did.
func (m *Machine) waitExit(ctx context.Context, pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !qemuAlive(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return !qemuAlive(pid)
}

// PID returns the pid of the guest's QEMU, and whether it is running.
func (m *Machine) PID() (int, bool) {
	b, err := os.ReadFile(m.PIDFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, qemuAlive(pid)
}

// qemuAlive reports whether pid is a QEMU process that has not exited. A
// zombie counts as exited: a detached QEMU's parent is init, which may reap it
// late. The name check guards against a pid reused since the pid file was
// written.
func qemuAlive(pid int) bool {
	state, ok := qemuState(pid)
	return ok && state != 'Z'
}

// zombie reports whether pid is a QEMU that exited and awaits reaping.
func zombie(pid int) bool {
	state, ok := qemuState(pid)
	return ok && state == 'Z'
}

// qemuState returns the state letter of pid from /proc/PID/stat, if pid is a
// QEMU process.
func qemuState(pid int) (byte, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// "pid (comm) state ...": comm may hold spaces and parentheses.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || len(s) < end+3 || !strings.HasPrefix(s[open+1:end], "qemu") {
		return 0, false
	}
	return s[end+2], true
}

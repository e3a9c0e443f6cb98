package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/procfs"
	"github.com/isolab/isolab/internal/progress"
	"github.com/isolab/isolab/internal/shell"
	"github.com/isolab/isolab/internal/vm/guestinit"
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

// Start boots the guest once a boot slot is free (see the package doc: at
// most as many guests boot at once as the machine has cores), logs the QEMU
// command line (and writes it to CommandFile), and starts QEMU in a session
// of its own, so that it outlives the caller and a Ctrl-C at the terminal
// does not reach it. It returns once QEMU runs and has written its pid file;
// WaitReady waits for the server.
func (m *Machine) Start(ctx context.Context) error {
	c := m.Config
	if pid, ok := m.PID(); ok {
		return fmt.Errorf("start VM %s: already running as pid %d (stop it first)", c.Name, pid)
	}
	m.mu.Lock()
	m.qemu = nil // a QEMU of an earlier Start, gone: the new one's pid file names the next
	m.mu.Unlock()
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
	if err := os.MkdirAll(c.RunDir, 0o755); err != nil {
		return fmt.Errorf("start VM %s: %w", c.Name, err)
	}
	if err := m.removeFiles(); err != nil { // leftovers of a guest that is gone
		return fmt.Errorf("start VM %s: %w", c.Name, err)
	}
	os.Remove(m.SerialLog)
	slot, err := acquireBootSlot(ctx, c.Name, m.logf)
	if err != nil {
		return fmt.Errorf("start VM %s: %w", c.Name, err)
	}
	argv = append(append(append([]string{}, c.Prefix...), qemu), argv[1:]...)
	line := shell.Quote(argv)
	m.logf("%s", line)
	out, err := os.Create(m.CommandFile)
	if err != nil {
		slot.release()
		return fmt.Errorf("start VM %s: %w", c.Name, err)
	}
	defer out.Close()
	fmt.Fprintf(out, "%s\n", line)
	cmd := qemuCommand(argv, out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		slot.release()
		return fmt.Errorf("start VM %s: %s: %w", c.Name, argv[0], err)
	}
	done := make(chan struct{})
	m.mu.Lock()
	m.done, m.started, m.slot, m.startAt = done, true, slot, time.Now()
	m.mu.Unlock()
	go func() {
		err := cmd.Wait()
		m.mu.Lock()
		m.exitErr = err
		m.mu.Unlock()
		m.releaseSlot()
		close(done)
	}()
	// The boot is over, and the slot free for the next guest, once the
	// guest's PID 1 starts the server: what is left is the server's own
	// start. Whoever waits for the server (WaitReady) may come later.
	booted := make(chan time.Time, 1)
	go watchFor(m.SerialLog, guestinit.StartLine, booted, done)
	go func() {
		<-booted
		m.releaseSlot()
	}()
	// QEMU writes its pid file once its options are parsed and the machine
	// is set up; it exits at once on a bad option or a missing file.
	for {
		if _, ok := m.PID(); ok {
			break
		}
		select {
		case <-done:
			b, _ := os.ReadFile(m.CommandFile)
			return errors.Join(fmt.Errorf("start VM %s: QEMU exited at once: %s", c.Name, strings.TrimSpace(shell.Tail(string(b), 10))),
				m.removeFiles())
		case <-ctx.Done():
			// No pid file yet, so Kill would not find QEMU: kill our child.
			cmd.Process.Kill()
			<-done
			return errors.Join(fmt.Errorf("start VM %s: %w", c.Name, ctx.Err()), m.removeFiles())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if debug {
		m.logf("LAB_VM_DEBUG=1: root shell on the console: socat -,raw,echo=0 UNIX-CONNECT:%s", m.Console)
	}
	return nil
}

// WaitReady waits until infoFile, the server's info file in the shared
// directory, is complete (infofile.Follower: four lines, written at once
// or line by line); remove a stale one before Start. It follows the
// guest's progress, not the clock: while the console still advances it
// keeps waiting, however slow the machine. It fails at once when QEMU
// exits and when the file is complete but malformed, and when the console
// has been silent for the stall limit (Stall), with an error that wraps
// os.ErrDeadlineExceeded; the errors carry the console's last lines.
func (m *Machine) WaitReady(ctx context.Context, infoFile string) error {
	defer m.releaseSlot()
	f := infofile.Follow(infoFile)
	err := progress.Wait{
		Done: func() (bool, error) {
			_, ok, err := f.Complete(m.exited())
			return ok, err
		},
		Gone:     m.Done(),
		Progress: m.Progress,
		Stall:    m.Stall(),
	}.Run(ctx)
	if err == nil {
		return nil
	}
	if errors.Is(err, progress.ErrGone) {
		return fmt.Errorf("wait for VM %s: QEMU exited (%s) before %s was written; %s", m.Config.Name, m.exitHow(), infoFile, m.SerialTail())
	}
	if idle, ok := progress.Stalled(err); ok {
		return fmt.Errorf("wait for VM %s: no complete %s, and the console has been silent for %s (%s=%d): %w; %s",
			m.Config.Name, infoFile, idle.Round(time.Second), VarStall, int(m.Stall().Seconds()), os.ErrDeadlineExceeded, m.SerialTail())
	}
	if ctx.Err() != nil {
		return fmt.Errorf("wait for VM %s: %w", m.Config.Name, err)
	}
	return fmt.Errorf("wait for VM %s: the server wrote %s, but not as the exercise says: %w", m.Config.Name, infoFile, err)
}

// exitHow says how QEMU ended, as far as this process knows.
func (m *Machine) exitHow() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case !m.started:
		return "it was started elsewhere"
	case m.exitErr != nil:
		return m.exitErr.Error()
	}
	return "exit status 0"
}

// Stop powers the guest off cleanly, so that its server gets SIGTERM and
// removes its own info file and segment, and waits for QEMU to exit while the
// console advances. A guest silent for the stall limit after Ctrl-Alt-Del is
// killed by pid (SIGTERM, then SIGKILL). Then the pid file and sockets go.
// It returns once QEMU is gone, not only exited (see awaitGone). Stopping
// a guest that is not running only removes those files, so Stop can be
// called again. The server's exit status is then ExitStatus's.
func (m *Machine) Stop(ctx context.Context) error {
	var errs []error
	if pid, ok := m.PID(); ok {
		start := time.Now()
		if err := m.pressUntilHeard(ctx); err != nil {
			m.logf("no clean power-off: %v", err)
		} else if m.waitExit(ctx, m.Stall()) {
			m.logf("powered off in %.1fs", time.Since(start).Seconds())
		}
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			if m.exited() {
				break
			}
			m.logf("QEMU pid %d still running; sending %v", pid, sig)
			if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("stop VM %s: kill pid %d: %w", m.Config.Name, pid, err))
			}
			m.waitExit(ctx, 3*time.Second)
		}
		if !m.exited() {
			errs = append(errs, fmt.Errorf("stop VM %s: QEMU pid %d survived SIGKILL", m.Config.Name, pid))
		}
	}
	m.awaitGone()
	m.releaseSlot()
	if err := m.removeFiles(); err != nil {
		errs = append(errs, fmt.Errorf("stop VM %s: %w", m.Config.Name, err))
	}
	return errors.Join(errs...)
}

// Kill kills QEMU at once, as a crash of the machine would end it, and waits
// until it is gone; the guest writes no exit status.
func (m *Machine) Kill() {
	if pid, ok := m.PID(); ok {
		syscall.Kill(pid, syscall.SIGKILL)
		m.waitExit(context.Background(), 10*time.Second)
	}
	m.awaitGone()
	m.releaseSlot()
	m.removeFiles()
}

// reapWait bounds awaitGone's wait for init to reap a QEMU that has
// exited: a zombie makes no progress to follow, and init does reap (about
// a second here), so this bound is only for an init that never does.
const reapWait = 30 * time.Second

// awaitGone waits until the QEMU this Machine knows of is gone from the
// process table, not only exited: so that when Stop or Kill returns,
// nothing of the guest is left, a zombie included. One this Machine
// started is reaped by Start's goroutine; one started by another process
// (lab:up's guest, stopped by lab:down) became init's child when that
// process ended, and init reaps it.
func (m *Machine) awaitGone() {
	m.mu.Lock()
	started, q := m.started, m.qemu
	m.mu.Unlock()
	if started {
		<-m.Done()
		return
	}
	if q == nil {
		return
	}
	for deadline := time.Now().Add(reapWait); q.present(); time.Sleep(20 * time.Millisecond) {
		if !q.alive() && time.Now().After(deadline) {
			m.logf("QEMU pid %d has exited, but its parent has not reaped it after %s", q.pid, reapWait)
			return
		}
	}
}

// waitExit waits for QEMU to exit while the console advances, giving up
// after silence longer than silent, and reports whether it exited.
func (m *Machine) waitExit(ctx context.Context, silent time.Duration) bool {
	progress.Until(ctx, func() bool { return false }, m.Done(), m.Progress, silent)
	return m.exited()
}

// pressUntilHeard presses Ctrl-Alt-Del, again every second until a press
// comes after lab-init has written its first line: a press while the guest's
// kernel still boots, before its keyboard driver is up or lab-init listens,
// is lost, and the guest would then boot on and run its server. (A press
// after that line reaches lab-init, which stops the server, or does so as
// soon as it has started it.)
func (m *Machine) pressUntilHeard(ctx context.Context) error {
	for {
		heard := m.consoleHas(guestinit.Prefix)
		if err := pressCtrlAltDel(ctx, m.QMPSocket); err != nil || heard {
			return err
		}
		select {
		case <-m.Done():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// consoleHas reports whether the guest's console so far holds s.
func (m *Machine) consoleHas(s string) bool {
	b, _ := os.ReadFile(m.SerialLog)
	return strings.Contains(string(b), s)
}

// PID returns the pid of the guest's QEMU, and whether it is running. The
// pid comes from QEMU's pid file, once: QEMU removes the file as it exits,
// before it is gone, so from then on the process is followed by its pid
// and start time (a pid reused by another program is not QEMU).
func (m *Machine) PID() (int, bool) {
	m.mu.Lock()
	q := m.qemu
	m.mu.Unlock()
	if q == nil {
		b, err := os.ReadFile(m.PIDFile)
		if err != nil {
			return 0, false
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			return 0, false
		}
		st, err := procfs.ReadStat(pid)
		if err != nil || !strings.HasPrefix(st.Comm, "qemu") || st.Zombie() {
			return pid, false
		}
		m.mu.Lock()
		if m.qemu == nil {
			m.qemu = &qemuProc{pid: pid, start: st.StartTime}
		}
		q = m.qemu
		m.mu.Unlock()
	}
	return q.pid, q.alive()
}

// Progress is what the guest has done so far, for a wait that follows it:
// its console's size once it has printed, and before that QEMU's CPU time.
// A guest's first byte can take seconds on a busy machine (firmware, the
// kernel's decompression), and a QEMU that works towards it is not
// stalled; after it, only the console counts, since an idle guest's QEMU
// still uses a little CPU time to run its clock.
func (m *Machine) Progress() int64 {
	if n := m.ConsoleSize(); n > 0 {
		return n
	}
	pid, ok := m.PID()
	if !ok {
		return 0
	}
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return 0
	}
	return -1 - st.UTime - st.STime // never a console size
}

// stat reads the process, if it is still this QEMU (exited or not).
func (q *qemuProc) stat() (procfs.Stat, bool) {
	st, err := procfs.ReadStat(q.pid)
	return st, err == nil && st.StartTime == q.start && strings.HasPrefix(st.Comm, "qemu")
}

// alive reports whether it runs: a zombie has exited.
func (q *qemuProc) alive() bool {
	st, ok := q.stat()
	return ok && !st.Zombie()
}

// present reports whether it is still in the process table, as a zombie too.
func (q *qemuProc) present() bool {
	_, ok := q.stat()
	return ok
}

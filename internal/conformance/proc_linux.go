package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is a Process started by this package on the machine it runs on.
type proc struct {
	cmd            *exec.Cmd
	done           chan struct{}
	stdout, stderr capped
	log            *os.File
	code           int
}

// startProcess starts argv with its output kept in memory and copied to the
// log file, whose first line is the exact command line. The process gets its
// own process group (Stop signals the group) and SIGKILL should this process's
// thread that started it die first.
func startProcess(argv []string, env []string, logPath string) (*proc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "+ %s\n", quote(argv))
	p := &proc{done: make(chan struct{}), log: log}
	lw := &syncWriter{w: log}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = io.MultiWriter(&p.stdout, lw)
	p.cmd.Stderr = io.MultiWriter(&p.stderr, lw)
	p.cmd.WaitDelay = 2 * time.Second // a grandchild holding the pipes costs no more
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	go func() {
		err := p.cmd.Wait()
		p.code = exitCode(err)
		fmt.Fprintf(lw, "+ exit status %d\n", p.code)
		log.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) Done() <-chan struct{} { return p.done }
func (p *proc) ExitCode() int         { <-p.done; return p.code }
func (p *proc) Stdout() string        { return p.stdout.String() }
func (p *proc) Stderr() string        { return p.stderr.String() }

func (p *proc) Stop(grace time.Duration) bool {
	select {
	case <-p.done:
		return false
	default:
	}
	pid := p.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
	return true
}

func (p *proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// capped keeps the first 64 KiB written to it.
type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const capBytes = 64 << 10

func (c *capped) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := capBytes - c.buf.Len(); room > 0 {
		c.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// syncWriter serializes the two output streams into one log.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// boundPort wraps getsockname(2): the port a socket is bound to.
func boundPort(fd int) (int, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, os.NewSyscallError("getsockname", err)
	}
	if in4, ok := sa.(*unix.SockaddrInet4); ok {
		return in4.Port, nil
	}
	return 0, fmt.Errorf("getsockname: not an IPv4 socket")
}

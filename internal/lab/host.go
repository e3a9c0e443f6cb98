package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/isolab/isolab/internal/engine"
)

// hostBackend runs servers as processes on the host, in their own session so that
// they outlive lab:up and a Ctrl-C at the terminal reaches only the lab.
type hostBackend struct {
	lab  *Lab
	argv func(r *Running) ([]string, error) // the command line of r's process
	exe  func(r *Running) string            // the program r's process runs once started
	done map[string]chan error              // Wait results of the children of this process
}

func newHostBackend(l *Lab) *hostBackend {
	h := &hostBackend{lab: l, done: map[string]chan error{}}
	h.argv = func(r *Running) ([]string, error) {
		return append([]string{l.ServerBin()}, serverArgs(r)...), nil
	}
	h.exe = func(r *Running) string {
		if len(r.Argv) == 0 {
			return ""
		}
		return r.Argv[0]
	}
	return h
}

func (h *hostBackend) Start(ctx context.Context, r *Running) error {
	log, err := os.OpenFile(r.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	if r.Argv, err = h.argv(r); err != nil {
		return err
	}
	fmt.Fprintf(log, "+ %s\n", engine.Quote(r.Argv))
	cmd := exec.Command(r.Argv[0], r.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	r.PID = cmd.Process.Pid
	done := make(chan error, 1)
	h.done[r.Name] = done
	go func() { done <- cmd.Wait() }()
	return h.lab.writePID(r.Name, r.PID)
}

// Stop sends SIGTERM, waits up to 5 s, then SIGKILL. For a child of this process
// it returns the exit status; for one started by an earlier lab:up, -1 (unknown).
func (h *hostBackend) Stop(ctx context.Context, r *Running) (int, error) {
	defer os.Remove(h.lab.pidFile(r.Name))
	if done, ok := h.done[r.Name]; ok {
		select {
		case err := <-done: // it finished on its own
			return exitCode(err), nil
		default:
		}
		syscall.Kill(r.PID, syscall.SIGTERM)
		select {
		case err := <-done:
			return exitCode(err), nil
		case <-time.After(5 * time.Second):
			syscall.Kill(r.PID, syscall.SIGKILL)
			return exitCode(<-done), fmt.Errorf("pid %d ignored SIGTERM for 5s: killed", r.PID)
		}
	}
	exe := h.exe(r)
	if exe == "" || !isServerProcess(r.PID, exe) {
		return -1, nil
	}
	syscall.Kill(r.PID, syscall.SIGTERM)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !isServerProcess(r.PID, exe) {
			return -1, nil
		}
	}
	syscall.Kill(r.PID, syscall.SIGKILL)
	return -1, fmt.Errorf("pid %d ignored SIGTERM for 5s: killed", r.PID)
}

// isServerProcess reports whether pid is alive and runs bin (a pid from an old
// pid file may have been reused by something else). A zombie counts as gone.
func isServerProcess(pid int, bin string) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return argv0 == bin
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

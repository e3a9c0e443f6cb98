//go:build unix

package shell

import (
	"os/exec"
	"syscall"
)

// ownGroup puts cmd in a process group of its own, so that a Ctrl-C at the
// terminal reaches only this process, which decides what to stop and in
// what order (a lab tears down what it started); cancelling its context
// then kills the whole group, what the program started included.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

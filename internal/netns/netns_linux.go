package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrExists is wrapped by Create's error when the namespace is there already.
var ErrExists = errors.New("network namespace exists")

// Create makes the namespace called name with ip-netns(8) and brings its
// loopback up; it has no other link and no route. It needs root.
func Create(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if Exists(name) {
		return fmt.Errorf("create %s: %w", Path(name), ErrExists)
	}
	if err := ip(ctx, "netns", "add", name); err != nil {
		return err
	}
	if err := ip(ctx, "-n", name, "link", "set", "lo", "up"); err != nil {
		return errors.Join(err, Delete(ctx, name))
	}
	return nil
}

// Delete removes the namespace called name; one that is not there is fine.
// The namespace itself goes once no process is left in it.
func Delete(ctx context.Context, name string) error {
	if !Exists(name) {
		return nil
	}
	return ip(ctx, "netns", "del", name)
}

// Pids returns the processes in the namespace called name.
func Pids(ctx context.Context, name string) ([]int, error) {
	if !Exists(name) {
		return nil, nil
	}
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", name).Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w", name, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func ip(ctx context.Context, args ...string) error {
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("ip not found (try: apt-get install iproute2)")
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Do runs f on an OS thread that has entered the namespace at path ("" runs
// f as it is). Sockets f opens belong to the namespace, and processes it
// starts (fork copies the calling thread's namespaces) run in it, while the
// rest of the process stays where it was. The thread goes back to its own
// namespace afterwards; should that fail, it is never handed back to other
// goroutines (the runtime ends it, or parks it for good if it is the main
// thread), so the namespace cannot leak into them.
func Do(path string, f func() error) error {
	if path == "" {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		defer unix.Close(home)
		if err := setns(path); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = f()
		if unix.Setns(home, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// setns moves the calling thread into the namespace at path.
func setns(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("enter network namespace %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", path, os.NewSyscallError("setns", err))
	}
	return nil
}

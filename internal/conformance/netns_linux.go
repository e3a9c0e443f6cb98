package conformance

import (
	"errors"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// netns is a network namespace of this process's own, held by one OS thread:
// the thread calls unshare(CLONE_NEWNET) and brings lo up, then runs the
// functions given to Do. Sockets opened there belong to the namespace, and
// processes started there (fork copies the calling thread's namespaces) run in
// it, while the rest of the process stays where it was. The goroutine stays
// locked to its thread; the Go runtime never clones a locked thread for new
// ones, and ends it when the goroutine returns, so the namespace cannot leak
// into other goroutines.
type netns struct {
	calls chan func()
	done  chan struct{}
}

// newNetns starts the thread. It fails when unshare is not permitted (no
// CAP_SYS_ADMIN, or a seccomp profile that forbids it).
func newNetns() (*netns, error) {
	n := &netns{calls: make(chan func()), done: make(chan struct{})}
	ready := make(chan error)
	go n.loop(ready)
	if err := <-ready; err != nil {
		<-n.done
		return nil, err
	}
	return n, nil
}

func (n *netns) loop(ready chan<- error) {
	defer close(n.done)
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread() // the thread is unchanged and may serve others
		ready <- os.NewSyscallError("unshare CLONE_NEWNET", err)
		return
	}
	// From here on the thread is never unlocked: it dies with this goroutine.
	if err := loopbackUp(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for f := range n.calls {
		f()
	}
}

// loopbackUp wraps ioctl(2) SIOCGIFFLAGS and SIOCSIFFLAGS: a new namespace's
// lo is down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("ioctl SIOCGIFFLAGS lo", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("ioctl SIOCSIFFLAGS lo", err)
	}
	return nil
}

var errNetnsClosed = errors.New("network namespace closed")

// Do runs f on the namespace's thread and returns its error.
func (n *netns) Do(f func() error) (err error) {
	errc := make(chan error, 1)
	select {
	case n.calls <- func() { errc <- f() }:
		return <-errc
	case <-n.done:
		return errNetnsClosed
	}
}

// Close ends the thread; the namespace goes once nothing in it is left.
func (n *netns) Close() {
	close(n.calls)
	<-n.done
}

package sock

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Listen wraps socket(2), bind(2) and listen(2): a TCP socket listening on
// ip:port only (not on every address), with the given backlog.
func Listen(ip netip.Addr, port, backlog int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	// A restarted server must not wait out TIME_WAIT of its previous run.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt SO_REUSEADDR", err)
	}
	if err := unix.Bind(fd, sockaddr(ip, port)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %s: %w", netip.AddrPortFrom(ip, uint16(port)), os.NewSyscallError("bind", err))
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// Accept waits with select(2) until lfd has a connection, then wraps accept(2).
// It returns ErrTimedOut when timeout passes first and ErrWoken when w is woken.
func Accept(lfd int, timeout time.Duration, w *Waker) (int, error) {
	r, _, err := wait([]int{lfd, w.fd()}, nil, time.Now().Add(timeout))
	if err != nil {
		return -1, err
	}
	if r[1] {
		return -1, ErrWoken
	}
	fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("accept", err)
	}
	return fd, nil
}

// Connect makes a TCP connection to ip:port that takes at most timeout: a
// non-blocking connect(2), select(2) on writability, then SO_ERROR. (select
// before a blocking connect would bound nothing: an unconnected socket is
// writable at once.) The returned descriptor is blocking again. Errors wrap
// unix.ECONNREFUSED, unix.ENETUNREACH, unix.EHOSTUNREACH or ErrTimedOut.
func Connect(ip netip.Addr, port int, timeout time.Duration) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	fail := func(err error) (int, error) {
		unix.Close(fd)
		return -1, err
	}
	err = unix.Connect(fd, sockaddr(ip, port))
	switch {
	case err == nil:
	case errors.Is(err, unix.EINPROGRESS):
		_, _, werr := wait(nil, []int{fd}, time.Now().Add(timeout))
		if werr != nil {
			return fail(werr)
		}
		soerr, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if gerr != nil {
			return fail(os.NewSyscallError("getsockopt SO_ERROR", gerr))
		}
		if soerr != 0 {
			return fail(os.NewSyscallError("connect", unix.Errno(soerr)))
		}
	default:
		return fail(os.NewSyscallError("connect", err))
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return fail(os.NewSyscallError("fcntl", err))
	}
	return fd, nil
}

// ReadUntilEOF reads fd until the peer closes it, at most max bytes, waiting
// with select(2) for each read so that a peer that never sends or never closes
// costs no more than deadline. What arrived before an error is returned with it.
func ReadUntilEOF(fd int, deadline time.Time, max int) ([]byte, error) {
	var out []byte
	chunk := make([]byte, 4096)
	for len(out) < max {
		if _, _, err := wait([]int{fd}, nil, deadline); err != nil {
			return out, err
		}
		n, err := unix.Read(fd, chunk[:min(len(chunk), max-len(out))])
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return out, os.NewSyscallError("read", err)
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, chunk[:n]...)
	}
	return out, nil
}

// WriteAll wraps write(2), repeating it until all of b is written.
func WriteAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return os.NewSyscallError("write", err)
		}
		b = b[n:]
	}
	return nil
}

// SetSendTimeout wraps setsockopt(2) SO_SNDTIMEO: a write that cannot go on
// for d fails with EAGAIN instead of blocking for ever.
func SetSendTimeout(fd int, d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	return os.NewSyscallError("setsockopt SO_SNDTIMEO", unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv))
}

// Close wraps close(2).
func Close(fd int) error {
	return os.NewSyscallError("close", unix.Close(fd))
}

// Waker cuts short a wait in Accept or Sleep from another goroutine: a signal
// handler cannot reliably interrupt select(2) on some other thread, a pipe can.
type Waker struct{ p [2]int }

// NewWaker wraps pipe2(2).
func NewWaker() (*Waker, error) {
	var w Waker
	if err := unix.Pipe2(w.p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	return &w, nil
}

// Wake makes every current and later wait on w return ErrWoken.
func (w *Waker) Wake() { unix.Write(w.p[1], []byte{1}) }

// Sleep waits for d or until w is woken, whichever comes first, and reports
// whether it was woken.
func (w *Waker) Sleep(d time.Duration) bool {
	r, _, err := wait([]int{w.fd()}, nil, time.Now().Add(d))
	return err == nil && r[0]
}

// Close releases the pipe.
func (w *Waker) Close() error {
	return errors.Join(Close(w.p[0]), Close(w.p[1]))
}

func (w *Waker) fd() int { return w.p[0] }

// wait wraps select(2) until one of rfds is readable or one of wfds writable,
// or deadline passes (ErrTimedOut). The Go runtime's own signals interrupt
// select with EINTR; it is retried with the time left.
func wait(rfds, wfds []int, deadline time.Time) (r, w []bool, err error) {
	for {
		var rs, ws unix.FdSet
		nfd := 0
		for _, set := range []struct {
			fds []int
			s   *unix.FdSet
		}{{rfds, &rs}, {wfds, &ws}} {
			for _, fd := range set.fds {
				if fd >= unix.FD_SETSIZE {
					return nil, nil, fmt.Errorf("select: descriptor %d is beyond FD_SETSIZE %d", fd, unix.FD_SETSIZE)
				}
				set.s.Set(fd)
				nfd = max(nfd, fd+1)
			}
		}
		left := time.Until(deadline)
		if left < 0 {
			left = 0
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		n, err := unix.Select(nfd, &rs, &ws, nil, &tv)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, nil, os.NewSyscallError("select", err)
		}
		if n == 0 {
			if time.Now().Before(deadline) {
				continue // Linux may round the timeout down
			}
			return nil, nil, ErrTimedOut
		}
		r = make([]bool, len(rfds))
		for i, fd := range rfds {
			r[i] = rs.IsSet(fd)
		}
		w = make([]bool, len(wfds))
		for i, fd := range wfds {
			w[i] = ws.IsSet(fd)
		}
		return r, w, nil
	}
}

func sockaddr(ip netip.Addr, port int) *unix.SockaddrInet4 {
	return &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
}

// BoundPort wraps getsockname(2): the port an IPv4 socket is bound to.
func BoundPort(fd int) (int, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, os.NewSyscallError("getsockname", err)
	}
	if in4, ok := sa.(*unix.SockaddrInet4); ok {
		return in4.Port, nil
	}
	return 0, errors.New("getsockname: not an IPv4 socket")
}

// FullListener listens on ip with backlog 0 and fills its accept queue,
// so that a connect(2) to the returned port neither succeeds nor fails
// before its caller's timeout: the kernel drops every new SYN. closeAll
// closes the listener and the connections that fill it.
func FullListener(ip netip.Addr) (port int, closeAll func(), err error) {
	lfd, err := Listen(ip, 0, 0)
	if err != nil {
		return 0, nil, err
	}
	fds := []int{lfd}
	closeAll = func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	if port, err = BoundPort(lfd); err != nil {
		closeAll()
		return 0, nil, err
	}
	// With backlog 0 the queue holds one connection; fill until a connect hangs.
	for range 8 {
		c, err := Connect(ip, port, 200*time.Millisecond)
		if errors.Is(err, ErrTimedOut) {
			return port, closeAll, nil
		}
		if err != nil {
			closeAll()
			return 0, nil, fmt.Errorf("fill the accept queue of %s: %w", netip.AddrPortFrom(ip, uint16(port)), err)
		}
		fds = append(fds, c)
	}
	closeAll()
	return 0, nil, fmt.Errorf("the accept queue of %s (backlog 0) never filled", netip.AddrPortFrom(ip, uint16(port)))
}

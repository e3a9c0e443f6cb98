package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/sock"
)

// Defaults of the exercise.
const (
	DefaultAcceptTimeout = 120 * time.Second // how long get_connection waits for a client
	DefaultGrace         = 10 * time.Second  // how long shutdown keeps an unattached segment for a late client
	ShmPerm              = 0o644             // clients of any uid may attach read-only
	sendTimeout          = 5 * time.Second   // bound on write_to_socket against a client that never reads
)

// Setup is the exercise's server_setup_information, plus the address and
// timeouts it leaves implicit.
type Setup struct {
	Port              int    // TCP port to listen on
	ShmPathname       string // file whose inode and device, with ShmProjID, give the segment's key
	ShmProjID         int    // ftok proj_id; its low 8 bits must not be 0
	InfoFileName      string // plain file name, no "/" or ".."
	InfoFileDirectory string // shared directory that clients read

	IP            netip.Addr    // address to listen on; zero means sock.DefaultIPv4
	AcceptTimeout time.Duration // zero means DefaultAcceptTimeout
	Grace         time.Duration // zero means DefaultGrace

	// Logf, when set, receives one line per step (for the lab's logs).
	Logf func(format string, args ...any)
}

// Live is the exercise's live_server_info: what a running server holds.
type Live struct {
	Setup
	ServerFD     int    // listening socket, -1 once closed
	ClientFD     int    // accepted connection, -1 when none
	ShmID        int    // segment id, -1 once removed
	InfoFilePath string // "" until create_info_file, and again once removed

	Key       shm.Key
	mu        sync.Mutex // guards waker against Interrupt from another goroutine
	waker     *sock.Waker
	connected bool      // a client connected at some point
	sentAt    time.Time // when write_to_socket finished
}

func (s *Setup) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// StartCommunication is start_communication: it opens the listening socket on
// the server's IP and creates the shared-memory segment. On failure it releases
// whatever it had taken.
func StartCommunication(setup Setup) (l *Live, err error) {
	if err := infofile.ValidateName(setup.InfoFileName); err != nil {
		return nil, err
	}
	if setup.ShmProjID&0xff == 0 {
		return nil, fmt.Errorf("proj_id %d has low 8 bits 0, which ftok(3) rejects", setup.ShmProjID)
	}
	if setup.Port < 1 || setup.Port > 65535 {
		return nil, fmt.Errorf("port %d is outside 1..65535", setup.Port)
	}
	if !setup.IP.IsValid() {
		setup.IP = sock.DefaultIPv4()
	}
	if !setup.IP.Is4() {
		return nil, fmt.Errorf("address %s is not IPv4", setup.IP)
	}
	if setup.AcceptTimeout == 0 {
		setup.AcceptTimeout = DefaultAcceptTimeout
	}
	if setup.Grace == 0 {
		setup.Grace = DefaultGrace
	}
	l = &Live{Setup: setup, ServerFD: -1, ClientFD: -1, ShmID: -1}
	defer func() {
		if err != nil {
			err = errors.Join(err, Shutdown(l))
			l = nil
		}
	}()
	if l.waker, err = sock.NewWaker(); err != nil {
		return l, err
	}
	if l.Key, err = shm.Ftok(setup.ShmPathname, setup.ShmProjID); err != nil {
		return l, err
	}
	if l.ServerFD, err = sock.Listen(setup.IP, setup.Port, 1); err != nil {
		return l, err
	}
	if l.ShmID, err = shm.CreateReclaiming(l.Key, shm.Size, ShmPerm); err != nil {
		return l, fmt.Errorf("create segment %s for %s: %w", l.Key, setup.ShmPathname, err)
	}
	l.logf("listening on %s:%d, segment %s (shmid %d)", setup.IP, setup.Port, l.Key, l.ShmID)
	return l, nil
}

// CreateInfoFile is create_info_file: it writes the four lines atomically into
// the info directory.
func CreateInfoFile(l *Live) error {
	info := infofile.Info{IP: l.IP, Port: l.Port, ShmPath: l.ShmPathname, ProjID: l.ShmProjID}
	path, err := infofile.Write(l.InfoFileDirectory, l.InfoFileName, info)
	if err != nil {
		return fmt.Errorf("create info file: %w", err)
	}
	l.InfoFilePath = path
	l.logf("wrote info file %s", path)
	return nil
}

// ErrNoClient is returned by GetConnection when the accept timeout passed.
var ErrNoClient = errors.New("no client connected before the accept timeout")

// ErrInterrupted is returned by GetConnection after Interrupt.
var ErrInterrupted = errors.New("interrupted")

// GetConnection is get_connection: select(2) on the listening socket for up to
// the accept timeout, then accept(2). It returns ErrNoClient on timeout and
// ErrInterrupted when Interrupt was called.
func GetConnection(l *Live) error {
	fd, err := sock.Accept(l.ServerFD, l.AcceptTimeout, l.waker)
	switch {
	case errors.Is(err, sock.ErrTimedOut):
		l.logf("no client within %s", l.AcceptTimeout)
		return ErrNoClient
	case errors.Is(err, sock.ErrWoken):
		return ErrInterrupted
	case err != nil:
		return err
	}
	// A client that never reads must not hold the server past its own timeout.
	if err := sock.SetSendTimeout(fd, sendTimeout); err != nil {
		sock.Close(fd)
		return err
	}
	l.ClientFD, l.connected = fd, true
	l.logf("client connected")
	return nil
}

// WriteToSocket is write_to_socket: it sends msg's bytes alone (no NUL, no
// newline) on the accepted connection and closes it, so that a client reading
// until EOF returns at once.
func WriteToSocket(l *Live, msg string) error {
	if l.ClientFD < 0 {
		return errors.New("write to socket: no connection accepted")
	}
	err := sock.WriteAll(l.ClientFD, []byte(msg))
	err = errors.Join(err, sock.Close(l.ClientFD))
	l.ClientFD = -1
	l.sentAt = time.Now()
	if err != nil {
		return fmt.Errorf("write to socket: %w", err)
	}
	return nil
}

// WriteToShm is write_to_shm: it writes msg and a NUL at the start of the
// segment. It detaches again at once, so that the segment's attach count
// afterwards counts clients only (shutdown relies on it).
func WriteToShm(l *Live, msg string) error {
	seg, err := shm.Attach(l.ShmID, false)
	if err != nil {
		return fmt.Errorf("write to segment %s: %w", l.Key, err)
	}
	err = shm.Put(seg, msg)
	if derr := shm.Detach(seg); derr != nil {
		err = errors.Join(err, derr)
	}
	if err != nil {
		return fmt.Errorf("write to segment %s: %w", l.Key, err)
	}
	return nil
}

// Shutdown is shutdown: it closes both sockets, removes the info file and the
// segment, and collects every failure. The info file goes first, so no new
// client finds a server whose socket is closed. When a client connected, the
// segment stays until a client has attached it or the grace period after the
// socket message has passed, so a client that attaches late still finds it.
func Shutdown(l *Live) error {
	var errs []error
	closeFD := func(fd *int) {
		if *fd >= 0 {
			errs = append(errs, sock.Close(*fd))
			*fd = -1
		}
	}
	closeFD(&l.ClientFD)
	closeFD(&l.ServerFD)
	if l.InfoFilePath != "" {
		errs = append(errs, os.Remove(l.InfoFilePath))
		l.InfoFilePath = ""
	}
	if l.ShmID >= 0 {
		if l.connected {
			l.awaitAttach()
		}
		if err := shm.Remove(l.ShmID); err != nil {
			errs = append(errs, fmt.Errorf("remove segment %s: %w", l.Key, err))
		}
		l.ShmID = -1
	}
	l.mu.Lock()
	if l.waker != nil {
		errs = append(errs, l.waker.Close())
		l.waker = nil
	}
	l.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	l.logf("shut down")
	return nil
}

// awaitAttach polls IPC_STAT until another process has attached the segment,
// the grace period since the socket message ends, or Interrupt is called.
func (l *Live) awaitAttach() {
	deadline := l.sentAt.Add(l.Grace)
	for {
		if seen, err := shm.AttachedByOther(l.ShmID, os.Getpid()); err != nil || seen {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			l.logf("no client attached the segment within %s", l.Grace)
			return
		}
		if l.waker.Sleep(min(left, 20*time.Millisecond)) {
			return
		}
	}
}

// Interrupt makes a waiting GetConnection return ErrInterrupted and cuts short
// Shutdown's wait for a late client. It is safe from any goroutine, e.g. a
// signal handler's.
func (l *Live) Interrupt() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waker != nil {
		l.waker.Wake()
	}
}

// Run is run: it starts the server, offers shmMsg in shared memory and socketMsg
// to the first client, then shuts down. No client before the accept timeout is
// not an error. Cancelling ctx (SIGINT, SIGTERM) ends the wait early and still
// releases everything.
func Run(ctx context.Context, setup Setup, shmMsg, socketMsg string) error {
	if len(shmMsg)+1 > shm.Size {
		return fmt.Errorf("shm message of %d bytes does not fit the %d-byte segment with its NUL", len(shmMsg), shm.Size)
	}
	// The client prints messages on one line, and a NUL would cut the shm one short.
	for _, m := range []struct{ what, msg string }{{"shm", shmMsg}, {"socket", socketMsg}} {
		if strings.ContainsAny(m.msg, "\r\n\x00") {
			return fmt.Errorf("%s message %q holds a line break or NUL", m.what, m.msg)
		}
	}
	l, err := StartCommunication(setup)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, l.Interrupt)
	defer stop()
	err = serve(ctx, l, shmMsg, socketMsg)
	if errors.Is(err, ErrNoClient) || errors.Is(err, ErrInterrupted) {
		err = nil
	}
	return errors.Join(err, Shutdown(l))
}

// serve writes the segment before the info file, so that no client can attach
// an empty segment, then hands the socket message to one client.
func serve(ctx context.Context, l *Live, shmMsg, socketMsg string) error {
	if err := WriteToShm(l, shmMsg); err != nil {
		return err
	}
	if err := CreateInfoFile(l); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ErrInterrupted
	}
	if err := GetConnection(l); err != nil {
		return err
	}
	return WriteToSocket(l, socketMsg)
}

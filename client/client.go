package client

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/report"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/sock"
	"golang.org/x/sys/unix"
)

// Defaults of the exercise and limits against hostile servers.
const (
	DefaultConnectTimeout = 5 * time.Second // bound on one connect(2)
	DefaultReadTimeout    = 5 * time.Second // bound on reading one socket message
	MaxSocketMessage      = 64 << 10        // bytes read from any socket at most

	// MaxConcurrentProbes bounds the servers probed at once. Each probe holds one
	// descriptor, and select(2) cannot watch descriptors at or past FD_SETSIZE
	// (1024); this leaves room for the process's other descriptors. A directory
	// with more servers takes a timeout per batch of this many hanging ones.
	MaxConcurrentProbes = 512
)

// Options tunes the probes; zero values mean the defaults.
type Options struct {
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
}

func (o Options) withDefaults() Options {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	return o
}

// Server is the client's live_server_info: one server found through its info
// file, with what each channel gave.
type Server struct {
	File string        // info file name
	Info infofile.Info // its content

	ClientFD int // connected socket until its message is read, else -1
	ShmID    int // segment id, -1 when not found

	Key    shm.Key // ftok key, when the pathname exists
	Socket Attempt // outcome of connect(2)
	Shm    Attempt // outcome of ftok, shmget(2) and shmat(2)

	seg        []byte // read-only attachment, kept until Disconnect
	connected  bool
	socketMsg  string
	socketRead bool
	socketErr  error
	readTime   time.Duration
}

// Attempt is the outcome of one channel of one server.
type Attempt struct {
	OK      bool          // the channel works
	Outcome string        // e.g. "connected", "refused", "not found"
	Elapsed time.Duration // how long the attempt took
	Err     error         // the failure behind Outcome, if any
}

// Class is the server's class by the exercise's rule.
func (s *Server) Class() report.Class { return report.Classify(s.Shm.OK, s.Socket.OK) }

// Skipped is an info file left out of the report, and why.
type Skipped struct {
	File string
	Err  error
}

func (s Skipped) Error() string { return fmt.Sprintf("info file %s: %v", s.File, s.Err) }

// CountServers is count_servers: it reads every info file in dir (sorted by
// name), and probes all servers at once (up to MaxConcurrentProbes): attaches
// each segment read-only, connects each socket and reads its message. The
// number of servers is len(servers). Files that are not valid info files come
// back in skipped. The attachments are kept until Disconnect.
func CountServers(dir string, opt Options) (servers []*Server, skipped []Skipped, err error) {
	opt = opt.withDefaults()
	entries, err := infofile.List(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read info directory: %w", err)
	}
	for _, e := range entries {
		if e.Err != nil {
			skipped = append(skipped, Skipped{File: e.Path, Err: e.Err})
			continue
		}
		servers = append(servers, &Server{File: e.Name, Info: e.Info, ClientFD: -1, ShmID: -1})
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, MaxConcurrentProbes)
	for _, s := range servers {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			s.probeShm()
			s.probeSocket(opt.ConnectTimeout)
			if s.connected {
				GetMessageFromSocket(s, opt.ReadTimeout)
			}
		})
	}
	wg.Wait()
	return servers, skipped, nil
}

func (s *Server) probeShm() {
	start := time.Now()
	defer func() { s.Shm.Elapsed = time.Since(start) }()
	key, err := shm.Ftok(s.Info.ShmPath, s.Info.ProjID)
	if err != nil {
		s.Shm = Attempt{Outcome: shmOutcome(err, "no such path"), Err: err}
		return
	}
	s.Key = key
	id, err := shm.Lookup(key)
	if err != nil {
		s.Shm = Attempt{Outcome: shmOutcome(err, "not found"), Err: err}
		return
	}
	seg, err := shm.Attach(id, true)
	if err != nil {
		s.Shm = Attempt{Outcome: shmOutcome(err, "not found"), Err: err}
		return
	}
	s.ShmID, s.seg = id, seg
	s.Shm = Attempt{OK: true, Outcome: "attached"}
}

func shmOutcome(err error, enoent string) string {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.EIDRM), errors.Is(err, unix.EINVAL):
		return enoent
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

func (s *Server) probeSocket(timeout time.Duration) {
	start := time.Now()
	fd, err := sock.Connect(s.Info.IP, s.Info.Port, timeout)
	s.Socket = Attempt{OK: err == nil, Outcome: socketOutcome(err), Elapsed: time.Since(start), Err: err}
	if err == nil {
		s.ClientFD, s.connected = fd, true
	}
}

func socketOutcome(err error) string {
	switch {
	case err == nil:
		return "connected"
	case errors.Is(err, unix.ECONNREFUSED):
		return "refused"
	case errors.Is(err, unix.ENETUNREACH), errors.Is(err, unix.EHOSTUNREACH):
		return "unreachable"
	case errors.Is(err, sock.ErrTimedOut):
		return "timed out"
	}
	return err.Error()
}

// GetMessageFromSocket is get_message_from_socket: it reads the connected
// socket until EOF (at most MaxSocketMessage bytes, for at most readTimeout) and
// closes it. Later calls return the same message. ok is false when no
// connection was made or nothing arrived.
func GetMessageFromSocket(s *Server, readTimeout time.Duration) (msg string, ok bool) {
	if !s.socketRead && s.ClientFD >= 0 {
		start := time.Now()
		b, err := sock.ReadUntilEOF(s.ClientFD, start.Add(readTimeout), MaxSocketMessage)
		sock.Close(s.ClientFD)
		s.ClientFD = -1
		s.socketMsg, s.socketErr, s.socketRead = string(b), err, true
		s.readTime = time.Since(start)
	}
	return s.socketMsg, s.socketRead && s.socketMsg != ""
}

// GetMessageFromShm is get_message_from_shm: the segment's text up to the first
// NUL, or up to its end when there is none. ok is false when the segment was not
// attached.
func GetMessageFromShm(s *Server) (msg string, ok bool) {
	if s.seg == nil {
		return "", false
	}
	return shm.Message(s.seg), true
}

// Disconnect is disconnect: it detaches every segment and closes every socket.
// It never removes a segment: that is its server's job.
func Disconnect(servers []*Server) error {
	var errs []error
	for _, s := range servers {
		if s.seg != nil {
			errs = append(errs, shm.Detach(s.seg))
			s.seg = nil
		}
		if s.ClientFD >= 0 {
			errs = append(errs, sock.Close(s.ClientFD))
			s.ClientFD = -1
		}
	}
	return errors.Join(errs...)
}

// Summarize classes every server and collects the messages in order: for each
// server, its shared-memory message, then its socket message.
func Summarize(servers []*Server) report.Report {
	r := report.Report{Messages: []string{}}
	for _, s := range servers {
		r.Add(s.Class())
		if m, ok := GetMessageFromShm(s); ok && m != "" {
			r.Messages = append(r.Messages, m)
		}
		if m, ok := GetMessageFromSocket(s, 0); ok {
			r.Messages = append(r.Messages, m)
		}
	}
	return r
}

// PrintServerInfos is print_server_infos: it writes the exercise's five lines.
func PrintServerInfos(w io.Writer, servers []*Server) error {
	_, err := io.WriteString(w, Summarize(servers).String())
	return err
}

// Address is the server's advertised ip:port.
func (s *Server) Address() netip.AddrPort {
	return netip.AddrPortFrom(s.Info.IP, uint16(s.Info.Port))
}

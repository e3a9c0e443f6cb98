package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/sock"
)

// The harness's own ends of a trial: its client side (dial, read a socket
// message, read a segment) and the endpoints it adds to the info directory.

// dial connects to a server where the client on the host runs.
func (sc *trial) dial(info infofile.Info, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := sc.e.sess.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(info.IP, uint16(info.Port)).String(), timeout)
		return err
	})
	return c, err
}

// message is what one read of a server's socket gave.
type message struct {
	data    []byte
	eof     bool          // the server closed the connection
	first   time.Time     // when the first byte arrived
	eofWait time.Duration // from the last byte to EOF
}

// readMessage reads until EOF: the first byte within first, EOF within after
// of the last byte, at most 64 KiB.
func readMessage(c net.Conn, first, after time.Duration) message {
	var m message
	buf := make([]byte, 4096)
	deadline := time.Now().Add(first)
	last := time.Now()
	for len(m.data) < 64<<10 {
		c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if n > 0 {
			last = time.Now()
			if m.first.IsZero() {
				m.first = last
			}
			m.data = append(m.data, buf[:n]...)
			deadline = last.Add(after)
		}
		if errors.Is(err, io.EOF) {
			m.eof = true
			m.eofWait = time.Since(last)
			break
		}
		if err != nil {
			break
		}
	}
	return m
}

// fakeInfo writes an info file for one of the harness's endpoints.
func (sc *trial) fakeInfo(name string, port int, path string, proj int) error {
	_, err := infofile.Write(sc.info, name, infofile.Info{IP: loopback, Port: port, ShmPath: path, ProjID: proj})
	if err == nil {
		sc.closers = append(sc.closers, func() { os.Remove(filepath.Join(sc.info, name)) })
	}
	return err
}

// fakeShmOnly is a server reached by shared memory only: a segment holding msg
// (made by the harness), and a port where nothing listens.
func (sc *trial) fakeShmOnly(name, msg string) error {
	path, proj, key, err := sc.shmPath(name, name+" (the harness's)")
	if err != nil {
		return err
	}
	id, err := shm.Create(key, shm.Size, 0o644)
	if err != nil {
		return err
	}
	sc.fakeIDs = append(sc.fakeIDs, id)
	if sc.uid != 0 { // as if the trial's user had made it
		if err := shm.Chown(id, sc.uid, sc.uid); err != nil {
			return err
		}
	}
	seg, err := shm.Attach(id, false)
	if err != nil {
		return err
	}
	err = errors.Join(shm.Put(seg, msg), shm.Detach(seg))
	if err != nil {
		return err
	}
	port, err := sc.port()
	if err != nil {
		return err
	}
	return sc.fakeInfo(name, port, path, proj)
}

// fakeSockOnly is a server reached by its socket only: a listener that sends
// msg to every client and closes, and an ftok pathname with no segment.
func (sc *trial) fakeSockOnly(name, msg string) error {
	path, proj, _, err := sc.shmPath(name, name+" (no segment: the client made it)")
	if err != nil {
		return err
	}
	var l net.Listener
	if err := sc.e.sess.Do(func() (err error) {
		l, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, msg)
			c.Close()
		}
	}()
	sc.closers = append(sc.closers, func() { l.Close(); <-done })
	return sc.fakeInfo(name, l.Addr().(*net.TCPAddr).Port, path, proj)
}

// fakeNone is a server reached by neither channel: a port where nothing
// listens and an ftok pathname with no segment.
func (sc *trial) fakeNone(name string) error {
	path, proj, _, err := sc.shmPath(name, name+" (no segment: the client made it)")
	if err != nil {
		return err
	}
	port, err := sc.port()
	if err != nil {
		return err
	}
	return sc.fakeInfo(name, port, path, proj)
}

// fakeHang is a server whose connect hangs (sock.FullListener), where the
// client runs. Its ftok pathname has no segment.
func (sc *trial) fakeHang(name string) error {
	path, proj, _, err := sc.shmPath(name, name+" (no segment: the client made it)")
	if err != nil {
		return err
	}
	var port int
	err = sc.e.sess.Do(func() error {
		p, closeAll, err := sock.FullListener(loopback)
		if err == nil {
			port = p
			sc.closers = append(sc.closers, closeAll)
		}
		return err
	})
	if err != nil {
		return err
	}
	return sc.fakeInfo(name, port, path, proj)
}

// stopFakes closes the harness's endpoints, removes its info files and
// segments.
func (sc *trial) stopFakes() {
	for _, f := range sc.closers {
		f()
	}
	sc.closers = nil
	for _, id := range sc.fakeIDs {
		shm.Remove(id)
	}
	sc.fakeIDs = nil
}

// infoFiles names the trial's info files with their line counts, as a
// client would find them now: "s1 (4 lines), x1-shm-only (4 lines)".
func (sc *trial) infoFiles() string {
	entries, err := os.ReadDir(sc.info)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(sc.info, e.Name()))
		if err != nil {
			out = append(out, fmt.Sprintf("%s (%v)", e.Name(), err))
			continue
		}
		out = append(out, fmt.Sprintf("%s (%d lines)", e.Name(), bytes.Count(b, []byte("\n"))))
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

package client_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/testnet"
)

// fake is a server made of real kernel objects in the test process: a segment
// and a loopback listener whose behaviour the test picks.
type fake struct {
	Name   string  // info file name
	Shm    *string // message in the segment; nil: no segment (the path exists)
	NoPath bool    // the info file names a pathname that does not exist
	Serve  func(c net.Conn, end <-chan struct{})
	// Serve nil: nothing listens on the port (refused).
	Port int // with Serve nil: the port to advertise (0: a free one)
	Raw  []byte
}

func str(s string) *string { return &s }

// sendAndClose answers every connection with msg and closes it, as a server does.
func sendAndClose(msg string) func(net.Conn, <-chan struct{}) {
	return func(c net.Conn, _ <-chan struct{}) { c.Write([]byte(msg)) }
}

// start makes f's segment, listener and info file in dir. Everything goes away
// when the test ends.
func (f fake) start(t testing.TB, dir string) infofile.Info {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shm-key")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	info := infofile.Info{IP: testnet.Loopback, ShmPath: path, ProjID: 'F'}
	if f.NoPath {
		info.ShmPath = filepath.Join(filepath.Dir(path), "missing")
	}
	if f.Shm != nil {
		key, err := shm.Ftok(path, info.ProjID)
		if err != nil {
			t.Fatal(err)
		}
		id, err := shm.Create(key, shm.Size, 0o644)
		if err != nil {
			t.Fatalf("create segment %v for %s: %v", key, f.Name, err)
		}
		t.Cleanup(func() { shm.Remove(id) })
		seg, err := shm.Attach(id, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Raw) > 0 {
			copy(seg, f.Raw)
		} else if err := shm.Put(seg, *f.Shm); err != nil {
			t.Fatal(err)
		}
		shm.Detach(seg)
	}
	if f.Serve == nil {
		info.Port = f.Port
		if info.Port == 0 {
			info.Port = testnet.FreePort(t)
		}
	} else {
		info.Port = listen(t, f.Serve)
	}
	if _, err := infofile.Write(dir, f.Name, info); err != nil {
		t.Fatal(err)
	}
	return info
}

// listen serves every connection to a new 127.0.0.1 listener with serve, and
// returns its port.
func listen(t testing.TB, serve func(net.Conn, <-chan struct{})) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	end, done := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(end); l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c, end)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

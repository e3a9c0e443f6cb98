//go:build linux

package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/client"
	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/report"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/internal/shmtest"
	"github.com/isolab/isolab/internal/testnet"
)

// fast keeps hostile-server tests short.
var fast = client.Options{ConnectTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond}

const slack = 500 * time.Millisecond

func TestRunClasses(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	fake{Name: "a-host", Shm: str("shmA"), Serve: sendAndClose("sockA")}.start(t, dir)
	fake{Name: "b-shm-only", Shm: str("shmB")}.start(t, dir)
	fake{Name: "c-socket-only", Serve: sendAndClose("sockC")}.start(t, dir)
	fake{Name: "d-vm", NoPath: true}.start(t, dir)
	fake{Name: "e-host", Shm: str("shmE"), Serve: sendAndClose("sockE")}.start(t, dir)

	var out bytes.Buffer
	res, err := client.Run(&out, dir, fast)
	if err != nil {
		t.Fatalf("Run(%s) = %v", dir, err)
	}
	want := "Total Servers: 5\nHost: 2\nContainer: 2\nVM: 1\nMessages: shmA sockA shmB sockC shmE sockE\n"
	if out.String() != want {
		t.Errorf("Run printed\n%s\nwant\n%s", out.String(), want)
	}

	type row struct{ file, socket, shm, class string }
	var got []row
	for _, s := range res.Servers {
		got = append(got, row{s.File, s.Socket.Outcome, s.Shm.Outcome, s.Class.String()})
	}
	wantRows := []row{
		{"a-host", "connected", "attached", "Host"},
		{"b-shm-only", "refused", "attached", "Container"},
		{"c-socket-only", "connected", "not found", "Container"},
		{"d-vm", "refused", "no such path", "VM"},
		{"e-host", "connected", "attached", "Host"},
	}
	if !reflect.DeepEqual(got, wantRows) {
		t.Errorf("servers = %+v,\nwant %+v", got, wantRows)
	}
	if res.Servers[0].Key == "" || res.Servers[3].Key != "" {
		t.Errorf("keys = %q, %q: want a key where the path exists and none where it does not", res.Servers[0].Key, res.Servers[3].Key)
	}
	if !res.Servers[0].Socket.Delivered || !res.Servers[0].Shm.Delivered || res.Servers[0].Note != "" {
		t.Errorf("host row = %+v, want both delivered and no note", res.Servers[0])
	}
}

func TestRunEmptyDirectory(t *testing.T) {
	var out bytes.Buffer
	if _, err := client.Run(&out, t.TempDir(), fast); err != nil {
		t.Fatal(err)
	}
	if want := "Total Servers: 0\nHost: 0\nContainer: 0\nVM: 0\nMessages:\n"; out.String() != want {
		t.Errorf("Run(empty dir) printed %q, want %q", out.String(), want)
	}
}

func TestRunMissingDirectory(t *testing.T) {
	var out bytes.Buffer
	dir := filepath.Join(t.TempDir(), "missing")
	_, err := client.Run(&out, dir, fast)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), dir) {
		t.Errorf("Run(%s) = %v, want ErrNotExist naming the directory", dir, err)
	}
	if out.Len() != 0 {
		t.Errorf("Run(missing dir) printed %q, want nothing", out.String())
	}
}

// TestOrderIsFileOrder makes the first server answer last: the messages still
// come in file-name order.
func TestOrderIsFileOrder(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	slow := func(c net.Conn, end <-chan struct{}) {
		select {
		case <-time.After(150 * time.Millisecond):
		case <-end:
		}
		c.Write([]byte("first"))
	}
	fake{Name: "1", Serve: slow}.start(t, dir)
	fake{Name: "2", Serve: sendAndClose("second")}.start(t, dir)
	fake{Name: "3", Shm: str("third")}.start(t, dir)
	res, err := client.Probe(dir, fast)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"first", "second", "third"}; !reflect.DeepEqual(res.Messages, want) {
		t.Errorf("messages = %q, want %q", res.Messages, want)
	}
}

func TestMalformedFilesSkipped(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	fake{Name: "good", Shm: str("shm"), Serve: sendAndClose("sock")}.start(t, dir)
	bad := map[string]string{
		"bad-lines": "127.0.0.1\n80\n",
		"bad-ip":    "127.0.0.256\n80\n/tmp\n1\n",
		"bad-port":  "127.0.0.1\n70000\n/tmp\n1\n",
		"bad-proj":  "127.0.0.1\n80\n/tmp\n512\n",
		"bad-path":  "127.0.0.1\n80\n\n1\n",
		"bad-size":  strings.Repeat("#", 5000),
	}
	wantErr := map[string]string{
		"bad-lines": "has 2 lines",
		"bad-ip":    "line 1:",
		"bad-port":  "line 2:",
		"bad-proj":  "line 4:",
		"bad-path":  "line 3:",
		"bad-size":  "larger than 4096",
	}
	for name, content := range bad {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not info files at all: ignored without a word.
	os.Mkdir(filepath.Join(dir, "subdir"), 0o755)
	os.Symlink(filepath.Join(dir, "bad-ip"), filepath.Join(dir, "link"))
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("junk"), 0o644)

	res, err := client.Probe(dir, fast)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 || res.Host != 1 || !reflect.DeepEqual(res.Messages, []string{"shm", "sock"}) {
		t.Errorf("report = %+v, want the one good server", res.Report)
	}
	if len(res.Skipped) != len(bad) {
		t.Errorf("skipped %d files (%+v), want %d", len(res.Skipped), res.Skipped, len(bad))
	}
	for _, s := range res.Skipped {
		name := filepath.Base(s.File)
		if s.File != filepath.Join(dir, name) || !strings.Contains(s.Error, wantErr[name]) {
			t.Errorf("skipped %s: %q, want the path and %q", s.File, s.Error, wantErr[name])
		}
	}
}

// TestHostileSockets: servers that accept but never send, or send without
// closing, or send too much, cost at most the read deadline each, all at once.
func TestHostileSockets(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	mute := func(_ net.Conn, end <-chan struct{}) { <-end }
	chatty := func(c net.Conn, end <-chan struct{}) { c.Write([]byte("partial")); <-end }
	flood := func(c net.Conn, end <-chan struct{}) {
		big := bytes.Repeat([]byte("f"), 1<<20)
		c.Write(big)
	}
	fake{Name: "1-mute", Shm: str("m1"), Serve: mute}.start(t, dir)
	fake{Name: "2-mute", Serve: mute}.start(t, dir)
	fake{Name: "3-chatty", Serve: chatty}.start(t, dir)
	fake{Name: "4-flood", Serve: flood}.start(t, dir)

	start := time.Now()
	res, err := client.Probe(dir, fast)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took > fast.ReadTimeout+slack {
		t.Errorf("probing 3 servers that never close took %v, want at most about one read deadline (%v)", took, fast.ReadTimeout)
	}
	for i, s := range res.Servers[:2] {
		if s.Socket.Delivered || !strings.Contains(s.Note, "nothing answered like a server") || !strings.Contains(s.Note, "timed out") {
			t.Errorf("server %d (%s): delivered %v, note %q; want no message and the note", i, s.File, s.Socket.Delivered, s.Note)
		}
		// A socket that connects counts as a working channel, message or not.
		if want := []report.Class{report.Host, report.Container}[i]; s.Class != want {
			t.Errorf("server %s: class %v, want %v", s.File, s.Class, want)
		}
	}
	if s := res.Servers[2]; s.Socket.Message != "partial" {
		t.Errorf("chatty server gave %q, want what arrived before the deadline", s.Socket.Message)
	}
	if s := res.Servers[3]; len(s.Socket.Message) != client.MaxSocketMessage || strings.Trim(s.Socket.Message, "f") != "" {
		t.Errorf("flooding server gave %d bytes, want %d", len(s.Socket.Message), client.MaxSocketMessage)
	}
	if want := []string{"m1", "partial"}; !reflect.DeepEqual(res.Messages[:2], want) {
		t.Errorf("messages start %q, want %q", res.Messages[:2], want)
	}
}

// TestConnectTimeoutsConcurrent: 16 servers whose connects all hang cost one
// connect timeout, not 16.
func TestConnectTimeoutsConcurrent(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	full := testnet.FullListener(t)
	for i := range 16 {
		fake{Name: fmt.Sprintf("s%02d", i), Port: int(full.Port())}.start(t, dir)
	}
	start := time.Now()
	res, err := client.Probe(dir, fast)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took > fast.ConnectTimeout+slack {
		t.Errorf("16 hanging connects took %v, want about one timeout (%v)", took, fast.ConnectTimeout)
	}
	for _, s := range res.Servers {
		if s.Socket.Outcome != "timed out" || s.Socket.Millis < 250 {
			t.Errorf("%s: socket %q after %.0fms, want timed out after about 300ms", s.File, s.Socket.Outcome, s.Socket.Millis)
		}
	}
	if res.VM != 16 {
		t.Errorf("report %+v, want 16 VMs", res.Report)
	}
}

// TestShmAttachment checks the client's hold on segments: read-only, kept until
// Disconnect, never removed; a segment without a NUL is read to its end.
func TestShmAttachment(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	full := bytes.Repeat([]byte("n"), shm.Size)
	infoA := fake{Name: "a", Shm: str("ro")}.start(t, dir)
	fake{Name: "b", Shm: str(""), Raw: full}.start(t, dir)

	servers, skipped, err := client.CountServers(dir, fast)
	if err != nil || len(skipped) != 0 || len(servers) != 2 {
		t.Fatalf("CountServers = %d servers, %v, %v", len(servers), skipped, err)
	}
	key, _ := shm.Ftok(infoA.ShmPath, infoA.ProjID)
	if perms := shmtest.MappingPerms(t, key); !reflect.DeepEqual(perms, []string{"r--s"}) {
		t.Errorf("client's mappings of %v: %q, want one r--s (SHM_RDONLY)", key, perms)
	}
	if d, err := shm.Stat(servers[0].ShmID); err != nil || d.Nattch != 1 {
		t.Errorf("nattch during count_servers = %d, %v, want 1 (kept until disconnect)", d.Nattch, err)
	}
	if m, ok := client.GetMessageFromShm(servers[1]); !ok || m != string(full) {
		t.Errorf("GetMessageFromShm(segment without NUL) = %d bytes, %v, want %d", len(m), ok, shm.Size)
	}
	if err := client.Disconnect(servers); err != nil {
		t.Fatalf("Disconnect = %v", err)
	}
	d, err := shm.Stat(servers[0].ShmID)
	if err != nil || d.Nattch != 0 {
		t.Errorf("after Disconnect: segment %v, nattch %d; want it still there, detached", err, d.Nattch)
	}
	if perms := shmtest.MappingPerms(t, key); len(perms) != 0 {
		t.Errorf("after Disconnect, still mapped: %q", perms)
	}
	if err := client.Disconnect(servers); err != nil {
		t.Errorf("second Disconnect = %v, want nil", err)
	}
	if _, ok := client.GetMessageFromShm(servers[0]); ok {
		t.Errorf("GetMessageFromShm after Disconnect: ok, want not attached")
	}
}

func TestGetMessageFromSocketCached(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	fake{Name: "a", Serve: sendAndClose("once")}.start(t, dir)
	servers, _, err := client.CountServers(dir, fast)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(servers)
	for range 2 {
		if m, ok := client.GetMessageFromSocket(servers[0], time.Second); !ok || m != "once" {
			t.Errorf("GetMessageFromSocket = %q, %v, want %q, true", m, ok, "once")
		}
	}
	if servers[0].ClientFD != -1 {
		t.Errorf("ClientFD = %d after reading, want -1 (closed)", servers[0].ClientFD)
	}
}

func TestPrintServerInfos(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	fake{Name: "a", Shm: str("x"), Serve: sendAndClose("y")}.start(t, dir)
	servers, _, err := client.CountServers(dir, fast)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(servers)
	var out bytes.Buffer
	if err := client.PrintServerInfos(&out, servers); err != nil {
		t.Fatal(err)
	}
	if want := "Total Servers: 1\nHost: 1\nContainer: 0\nVM: 0\nMessages: x y\n"; out.String() != want {
		t.Errorf("PrintServerInfos wrote %q, want %q", out.String(), want)
	}
}

func TestWriteExplain(t *testing.T) {
	res := client.Result{
		Servers: []client.ServerResult{{
			File: "srv", Address: "127.0.0.1:9", Key: "0x41000001",
			Socket: client.ChannelResult{OK: true, Outcome: "connected", Millis: 1.25},
			Shm:    client.ChannelResult{Outcome: "not found"},
			Class:  report.Container, Note: "connected, but nothing answered like a server",
		}},
		Skipped: []client.SkippedFile{{File: "/d/bad", Error: "line 2: port"}},
	}
	var out bytes.Buffer
	if err := client.WriteExplain(&out, res); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "FILE") {
		t.Fatalf("explain table %q, want a header and two rows", out.String())
	}
	for _, want := range []string{"srv", "127.0.0.1:9", "connected (1.2ms)", "0x41000001 not found", "Container", "nothing answered"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if !strings.Contains(lines[2], "/d/bad") || !strings.Contains(lines[2], "skipped") || !strings.Contains(lines[2], "line 2: port") {
		t.Errorf("skipped row %q", lines[2])
	}
}

// TestInfoFileRoundTrip is the server's writer and the client's reader together.
func TestInfoFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	info := fake{Name: "srv", NoPath: true}.start(t, dir)
	entries, err := infofile.List(dir)
	if err != nil || len(entries) != 1 || entries[0].Info != info {
		t.Errorf("List = %+v, %v, want %+v", entries, err, info)
	}
}

// TestMoreServersThanFDSetSize: a shared directory with more servers than
// select(2) can watch descriptors must not turn some of them into errors.
func TestMoreServersThanFDSetSize(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	full := testnet.FullListener(t)
	const n = 1100
	info := infofile.Info{IP: testnet.Loopback, Port: int(full.Port()), ShmPath: filepath.Join(dir, "missing"), ProjID: 1}
	for i := range n {
		if _, err := infofile.Write(dir, fmt.Sprintf("s%04d", i), info); err != nil {
			t.Fatal(err)
		}
	}
	opt := client.Options{ConnectTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond}
	res, err := client.Probe(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for _, s := range res.Servers {
		outcomes[s.Socket.Outcome]++
	}
	if outcomes["timed out"] != n {
		t.Errorf("socket outcomes of %d hanging servers: %v, want all timed out", n, outcomes)
	}
}

package main

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/testnet"
	"github.com/isolab/isolab/server"
)

func TestUsageErrors(t *testing.T) {
	base := map[string]string{
		"-port": "9", "-shm-path": "/", "-proj-id": "1", "-info-dir": "/nonexistent",
		"-info-name": "n", "-shm-msg": "a", "-socket-msg": "b",
	}
	args := func(drop, key, val string) []string {
		var out []string
		for k, v := range base {
			if k == drop {
				continue
			}
			if k == key {
				v = val
			}
			out = append(out, k, v)
		}
		if key != "" && base[key] == "" {
			out = append(out, key, val)
		}
		return out
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no -port", args("-port", "", ""), "flag -port is required"},
		{"no -proj-id", args("-proj-id", "", ""), "flag -proj-id is required"},
		{"no -shm-path", args("-shm-path", "", ""), "flag -shm-path is required"},
		{"no -info-dir", args("-info-dir", "", ""), "flag -info-dir is required"},
		{"no -info-name", args("-info-name", "", ""), "flag -info-name is required"},
		{"no -shm-msg", args("-shm-msg", "", ""), "flag -shm-msg is required"},
		{"no -socket-msg", args("-socket-msg", "", ""), "flag -socket-msg is required"},
		{"bad -ip", args("", "-ip", "::1"), `flag -ip: "::1" is not an IPv4 address`},
		{"bad -port", args("", "-port", "x"), "invalid value"},
		{"extra argument", append(args("", "", ""), "extra"), `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(tt.args, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%s: server %q = exit %d, stderr %q; want 2 and %q", tt.name, tt.args, code, errOut.String(), tt.want)
		}
	}
}

// TestRunNoClient runs the command in-process until its accept timeout.
func TestRunNoClient(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	os.WriteFile(path, nil, 0o644)
	port := testnet.FreePort(t)
	var out, errOut bytes.Buffer
	code := run([]string{"-ip", "127.0.0.1", "-port", strconv.Itoa(port), "-shm-path", path, "-proj-id", "7",
		"-info-dir", dir, "-info-name", "srv", "-shm-msg", "a", "-socket-msg", "b", "-accept-timeout", "100ms"}, &out, &errOut)
	if code != 0 || errOut.Len() != 0 {
		t.Errorf("server = exit %d, stderr %q; want 0 and nothing", code, errOut.String())
	}
	for _, want := range []string{"server srv: ", "listening on 127.0.0.1:" + strconv.Itoa(port), "wrote info file", "no client within 100ms", "shut down", "done after"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress on stdout lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "srv")); !os.IsNotExist(err) {
		t.Errorf("info file left behind: %v", err)
	}
	leakcheck.PortFree(t, port)

	out.Reset()
	code = run([]string{"-q", "-ip", "127.0.0.1", "-port", strconv.Itoa(port), "-shm-path", path, "-proj-id", "7",
		"-info-dir", dir, "-info-name", "srv", "-shm-msg", "a", "-socket-msg", "b", "-accept-timeout", "10ms"}, &out, &errOut)
	if code != 0 || out.Len() != 0 {
		t.Errorf("server -q = exit %d, stdout %q; want 0 and nothing", code, out.String())
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", "a"},
		{"a\nb\nc", "a;b;c"},
	}
	for _, tt := range tests {
		if got := oneLine(errString(tt.in)); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// server.CommandLine writes what this command reads, for every setting.
func TestCommandLineRoundTrip(t *testing.T) {
	for _, setup := range []server.Setup{
		{Port: 31000, ShmPathname: "/lab/shared/shm/s1", ShmProjID: 7, InfoFileDirectory: "/lab/shared/info", InfoFileName: "s1"},
		{Port: 1, ShmPathname: "/a b/k", ShmProjID: 255, InfoFileDirectory: "/d", InfoFileName: "n",
			IP: netip.MustParseAddr("127.0.0.1"), AcceptTimeout: 90 * time.Second, Grace: 1500 * time.Millisecond},
	} {
		args := server.CommandLine(setup, "shm message", `socket "message"`)
		got, shmMsg, socketMsg, quiet, code := parse(args, io.Discard)
		want := setup
		if want.AcceptTimeout == 0 {
			want.AcceptTimeout = server.DefaultAcceptTimeout
		}
		if want.Grace == 0 {
			want.Grace = server.DefaultGrace
		}
		if code != 0 || got.Port != want.Port || got.ShmPathname != want.ShmPathname || got.ShmProjID != want.ShmProjID ||
			got.InfoFileDirectory != want.InfoFileDirectory || got.InfoFileName != want.InfoFileName || got.IP != want.IP ||
			got.AcceptTimeout != want.AcceptTimeout || got.Grace != want.Grace ||
			shmMsg != "shm message" || socketMsg != `socket "message"` || quiet {
			t.Errorf("parse(CommandLine(%+v)) = %+v, %q, %q, quiet %v, code %d", setup, got, shmMsg, socketMsg, quiet, code)
		}
	}
}

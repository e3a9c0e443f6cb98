package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isolab/isolab/client"
	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/testnet"
)

// infoDir makes a directory with a socket-only server ("sock" on 127.0.0.1,
// pathname missing) named a, and the given extra files.
func infoDir(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("sock"))
			c.Close()
		}
	}()
	info := infofile.Info{IP: testnet.Loopback, Port: l.Addr().(*net.TCPAddr).Port, ShmPath: filepath.Join(dir, "no-such-path"), ProjID: 1}
	if _, err := infofile.Write(dir, "a", info); err != nil {
		t.Fatal(err)
	}
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runClient(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

const fiveLines = "Total Servers: 1\nHost: 0\nContainer: 1\nVM: 0\nMessages: sock\n"

func TestFiveLines(t *testing.T) {
	dir := infoDir(t, nil)
	code, out, errOut := runClient("-connect-timeout", "1s", dir)
	if code != 0 || out != fiveLines || errOut != "" {
		t.Errorf("client %s = exit %d, stdout %q, stderr %q; want 0, %q, nothing", dir, code, out, errOut, fiveLines)
	}
	// Double-dash spellings work too.
	if code, out, _ := runClient("--connect-timeout=1s", "--read-timeout", "1s", dir); code != 0 || out != fiveLines {
		t.Errorf("client with --flags = exit %d, %q", code, out)
	}
}

func TestMalformedFiles(t *testing.T) {
	dir := infoDir(t, map[string]string{
		"b-bad-port": "127.0.0.1\n0\n/p\n1\n",
		"c-short":    "127.0.0.1\n",
		".hidden":    "junk",
	})
	os.Mkdir(filepath.Join(dir, "d-dir"), 0o755)
	os.Symlink(filepath.Join(dir, "c-short"), filepath.Join(dir, "e-link"))
	code, out, errOut := runClient(dir)
	if code != 2 {
		t.Errorf("exit %d, want 2 when a file was skipped", code)
	}
	if out != fiveLines {
		t.Errorf("stdout %q, want the valid server still reported: %q", out, fiveLines)
	}
	want := fmt.Sprintf("client: skipped info file %s: line 2: port \"0\" is not a number in 1..65535\n"+
		"client: skipped info file %s: has 1 lines, want 4 (IP, port, shm pathname, proj_id)\n",
		filepath.Join(dir, "b-bad-port"), filepath.Join(dir, "c-short"))
	if errOut != want {
		t.Errorf("stderr\n%s\nwant\n%s", errOut, want)
	}
}

func TestMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	code, out, errOut := runClient(dir)
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	if want := "system error: read info directory: open " + dir + ": no such file or directory\n"; errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
}

func TestJSON(t *testing.T) {
	dir := infoDir(t, map[string]string{"z-bad": "x"})
	code, out, errOut := runClient("-json", dir)
	if code != 2 || strings.Count(errOut, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 2 and one line", code, errOut)
	}
	var res client.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if res.Total != 1 || res.Container != 1 || len(res.Servers) != 1 || len(res.Skipped) != 1 {
		t.Errorf("JSON result %+v", res)
	}
	s := res.Servers[0]
	if s.File != "a" || s.Socket.Outcome != "connected" || !s.Socket.Delivered || s.Socket.Message != "sock" || s.Shm.Outcome != "no such path" || s.Class.String() != "Container" {
		t.Errorf("JSON server %+v", s)
	}
	var raw map[string]any
	json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"total", "host", "container", "vm", "messages", "servers", "skipped"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
}

func TestExplain(t *testing.T) {
	dir := infoDir(t, nil)
	code, out, _ := runClient("-explain", dir)
	if code != 0 || !strings.HasPrefix(out, fiveLines+"\nFILE") {
		t.Fatalf("exit %d, stdout %q; want the five lines, a blank line, the table", code, out)
	}
	row := strings.Split(out, "\n")[7]
	for _, want := range []string{"a ", "127.0.0.1:", "connected (", "no such path", "Container"} {
		if !strings.Contains(row, want) {
			t.Errorf("explain row %q lacks %q", row, want)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"a", "b"}, {"-bogus", "d"}, {"-connect-timeout", "x", "d"}} {
		code, out, errOut := runClient(args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "usage") && !strings.Contains(errOut, "flag") {
			t.Errorf("client %q = exit %d, stdout %q, stderr %q; want 2 and usage", args, code, out, errOut)
		}
	}
}

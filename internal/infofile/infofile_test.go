package infofile_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/infofile"
)

var good = infofile.Info{IP: netip.MustParseAddr("10.0.0.7"), Port: 4242, ShmPath: "/srv/shm key", ProjID: 65}

func TestParse(t *testing.T) {
	long := strings.Repeat("p", infofile.MaxPathLen+1)
	tests := []struct {
		name string
		in   string
		want infofile.Info
		line int    // LineError.Line wanted; -1 means success
		msg  string // part of the error text wanted
	}{
		{"lf", "10.0.0.7\n4242\n/srv/shm key\n65\n", good, -1, ""},
		{"crlf", "10.0.0.7\r\n4242\r\n/srv/shm key\r\n65\r\n", good, -1, ""},
		{"lf no trailing newline", "10.0.0.7\n4242\n/srv/shm key\n65", good, -1, ""},
		{"crlf no trailing newline", "10.0.0.7\r\n4242\r\n/srv/shm key\r\n65", good, -1, ""},
		{"mixed line ends", "10.0.0.7\r\n4242\n/srv/shm key\r\n65\n", good, -1, ""},
		{"port bounds low", "1.2.3.4\n1\n/p\n1\n", infofile.Info{IP: netip.MustParseAddr("1.2.3.4"), Port: 1, ShmPath: "/p", ProjID: 1}, -1, ""},
		{"port bounds high", "1.2.3.4\n65535\n/p\n255\n", infofile.Info{IP: netip.MustParseAddr("1.2.3.4"), Port: 65535, ShmPath: "/p", ProjID: 255}, -1, ""},
		{"proj_id above 255 with low bits set", "1.2.3.4\n80\n/p\n257\n", infofile.Info{IP: netip.MustParseAddr("1.2.3.4"), Port: 80, ShmPath: "/p", ProjID: 257}, -1, ""},

		{"empty", "", infofile.Info{}, 0, "has 0 lines"},
		{"only newline", "\n", infofile.Info{}, 0, "has 0 lines"},
		{"three lines", "10.0.0.7\n4242\n/srv/shm\n", infofile.Info{}, 0, "has 3 lines"},
		{"five lines", "10.0.0.7\n4242\n/srv/shm\n65\nextra\n", infofile.Info{}, 0, "has 5 lines"},
		{"two trailing newlines", "10.0.0.7\n4242\n/srv/shm\n65\n\n", infofile.Info{}, 0, "has 5 lines"},
		{"bad IPv4", "10.0.0.300\n4242\n/srv/shm\n65\n", infofile.Info{}, 1, "not an IPv4"},
		{"IPv6", "::1\n4242\n/srv/shm\n65\n", infofile.Info{}, 1, "not an IPv4"},
		{"IPv4-mapped IPv6", "::ffff:10.0.0.7\n4242\n/srv/shm\n65\n", infofile.Info{}, 1, "not an IPv4"},
		{"host name", "localhost\n4242\n/srv/shm\n65\n", infofile.Info{}, 1, "not an IPv4"},
		{"IP with space", " 10.0.0.7\n4242\n/srv/shm\n65\n", infofile.Info{}, 1, "not an IPv4"},
		{"port 0", "10.0.0.7\n0\n/srv/shm\n65\n", infofile.Info{}, 2, "1..65535"},
		{"port 65536", "10.0.0.7\n65536\n/srv/shm\n65\n", infofile.Info{}, 2, "1..65535"},
		{"port negative", "10.0.0.7\n-80\n/srv/shm\n65\n", infofile.Info{}, 2, "1..65535"},
		{"port not a number", "10.0.0.7\nhttp\n/srv/shm\n65\n", infofile.Info{}, 2, "1..65535"},
		{"empty pathname", "10.0.0.7\n4242\n\n65\n", infofile.Info{}, 3, "empty"},
		{"pathname too long", "10.0.0.7\n4242\n" + long + "\n65\n", infofile.Info{}, 0, "larger than 4096"},
		{"pathname with lone CR", "10.0.0.7\n4242\n/a\rb\n65\n", infofile.Info{}, 3, "line break or NUL"},
		{"pathname with NUL", "10.0.0.7\n4242\n/a\x00b\n65\n", infofile.Info{}, 3, "line break or NUL"},
		{"proj_id 0", "10.0.0.7\n4242\n/srv/shm\n0\n", infofile.Info{}, 4, "low 8 bits 0"},
		{"proj_id 256", "10.0.0.7\n4242\n/srv/shm\n256\n", infofile.Info{}, 4, "low 8 bits 0"},
		{"proj_id not a number", "10.0.0.7\n4242\n/srv/shm\nA\n", infofile.Info{}, 4, "not a number"},
		{"4095 bytes, no trailing newline", "1.2.3.4\n80\n/" + strings.Repeat("p", 4081) + "\n1", infofile.Info{IP: netip.MustParseAddr("1.2.3.4"), Port: 80, ShmPath: "/" + strings.Repeat("p", 4081), ProjID: 1}, -1, ""},
		{"4096 bytes, no trailing newline", "1.2.3.4\n80\n/" + strings.Repeat("p", 4082) + "\n1", infofile.Info{}, 0, "take 4097 bytes"},
		{"file over 4 KiB", "10.0.0.7\n4242\n/srv/shm\n65\n" + strings.Repeat(" ", infofile.MaxFileSize), infofile.Info{}, 0, "larger than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := infofile.Parse([]byte(tt.in))
			if tt.line < 0 {
				if err != nil || got != tt.want {
					t.Fatalf("Parse(%q) = %+v, %v, want %+v, nil", tt.in, got, err, tt.want)
				}
				return
			}
			var le *infofile.LineError
			if !errors.As(err, &le) {
				t.Fatalf("Parse(%q) = %+v, %v, want a *LineError", tt.in, got, err)
			}
			if le.Line != tt.line || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Parse(%q) error = %q (line %d), want line %d and %q", tt.in, err, le.Line, tt.line, tt.msg)
			}
			if tt.line > 0 && !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("Parse(%q) error = %q, want it to name the line", tt.in, err)
			}
			if got != (infofile.Info{}) {
				t.Errorf("Parse(%q) = %+v with an error, want the zero Info", tt.in, got)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	if got, want := string(infofile.Format(good)), "10.0.0.7\n4242\n/srv/shm key\n65\n"; got != want {
		t.Errorf("Format(%+v) = %q, want %q", good, got, want)
	}
	back, err := infofile.Parse(infofile.Format(good))
	if err != nil || back != good {
		t.Errorf("Parse(Format(%+v)) = %+v, %v, want the same Info", good, back, err)
	}
}

func TestValidate(t *testing.T) {
	with := func(f func(*infofile.Info)) infofile.Info { i := good; f(&i); return i }
	tests := []struct {
		name string
		in   infofile.Info
		line int // -1: valid
	}{
		{"good", good, -1},
		{"zero IP", with(func(i *infofile.Info) { i.IP = netip.Addr{} }), 1},
		{"IPv6", with(func(i *infofile.Info) { i.IP = netip.MustParseAddr("::1") }), 1},
		{"port 0", with(func(i *infofile.Info) { i.Port = 0 }), 2},
		{"port 65536", with(func(i *infofile.Info) { i.Port = 65536 }), 2},
		{"empty path", with(func(i *infofile.Info) { i.ShmPath = "" }), 3},
		{"long path", with(func(i *infofile.Info) { i.ShmPath = strings.Repeat("x", infofile.MaxPathLen+1) }), 3},
		{"newline in path", with(func(i *infofile.Info) { i.ShmPath = "/a\nb" }), 3},
		{"proj_id 512", with(func(i *infofile.Info) { i.ProjID = 512 }), 4},
		// A pathname that fits MaxPathLen but makes the file exceed MaxFileSize
		// would give a file no client accepts.
		{"file too big", with(func(i *infofile.Info) { i.ShmPath = strings.Repeat("x", infofile.MaxPathLen-4) }), 0},
	}
	for _, tt := range tests {
		err := infofile.Validate(tt.in)
		var le *infofile.LineError
		switch {
		case tt.line < 0 && err != nil:
			t.Errorf("%s: Validate(%+v) = %v, want nil", tt.name, tt.in, err)
		case tt.line >= 0 && (!errors.As(err, &le) || le.Line != tt.line):
			t.Errorf("%s: Validate(...) = %v, want a *LineError for line %d", tt.name, err, tt.line)
		}
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"server-1", true},
		{"a.b", true},
		{"x..", false},
		{"..", false},
		{"../escape", false},
		{"a/b", false},
		{"/abs", false},
		{".hidden", false},
		{"", false},
		{"nul\x00", false},
	}
	for _, tt := range tests {
		if err := infofile.ValidateName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	old := umask(0o077)
	path, err := infofile.Write(dir, "srv", good)
	umask(old)
	if err != nil {
		t.Fatalf("Write(%q, %q) = %v", dir, "srv", err)
	}
	if want := filepath.Join(dir, "srv"); path != want {
		t.Errorf("Write returned %q, want %q", path, want)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != string(infofile.Format(good)) {
		t.Errorf("file holds %q, %v, want %q", b, err, infofile.Format(good))
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("file mode = %v, %v, want 0644 whatever the umask", st.Mode().Perm(), err)
	}
	names := dirNames(t, dir)
	if !reflect.DeepEqual(names, []string{"srv"}) {
		t.Errorf("directory holds %q after Write, want only the info file (no temporary left)", names)
	}

	for _, name := range []string{"a/b", "..", ".x", ""} {
		if _, err := infofile.Write(dir, name, good); err == nil {
			t.Errorf("Write(dir, %q) = nil, want an error", name)
		}
	}
	bad := good
	bad.Port = 0
	if _, err := infofile.Write(dir, "bad", bad); err == nil {
		t.Errorf("Write(dir, %q, port 0) = nil, want an error", "bad")
	}
	if _, err := infofile.Write(filepath.Join(dir, "missing"), "srv", good); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Write into a missing directory = %v, want ErrNotExist", err)
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"srv"}) {
		t.Errorf("directory holds %q after failed Writes, want only %q", names, "srv")
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b", "10.0.0.7\n4242\n/srv/shm key\n65\n")
	write("a", "10.0.0.7\r\n4242\r\n/srv/shm key\r\n65")
	write("c-bad", "10.0.0.7\n99999\n/p\n1\n")
	write("d-huge", strings.Repeat("x", 1<<20))
	write(".hidden", "10.0.0.7\n4242\n/srv/shm key\n65\n")
	write(".b.tmp123", "10.0.0.7\n42")
	if err := os.Mkdir(filepath.Join(dir, "a-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "b"), filepath.Join(dir, "b-link")); err != nil {
		t.Fatal(err)
	}

	entries, err := infofile.List(dir)
	if err != nil {
		t.Fatalf("List(%q) = %v", dir, err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name)
		if e.Path != filepath.Join(dir, e.Name) {
			t.Errorf("entry %q has Path %q", e.Name, e.Path)
		}
	}
	if want := []string{"a", "b", "c-bad", "d-huge"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("List(%q) names = %q, want %q (sorted; no dirs, symlinks or dot-names)", dir, got, want)
	}
	for i, e := range entries[:2] {
		if e.Err != nil || e.Info != good {
			t.Errorf("entry %d (%s) = %+v, %v, want %+v", i, e.Name, e.Info, e.Err, good)
		}
	}
	var le *infofile.LineError
	if e := entries[2]; !errors.As(e.Err, &le) || le.Line != 2 {
		t.Errorf("entry %s: Err = %v, want a line 2 error", e.Name, e.Err)
	}
	if e := entries[3]; e.Err == nil || !strings.Contains(e.Err.Error(), "larger than 4096") {
		t.Errorf("entry %s: Err = %v, want the size error", e.Name, e.Err)
	}

	if _, err := infofile.List(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("List(missing dir) = %v, want ErrNotExist", err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

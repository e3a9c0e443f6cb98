package infofile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Limits that keep a hostile shared directory from costing the client much.
const (
	MaxFileSize = 4096 // bytes in one info file
	MaxPathLen  = 4096 // bytes in the shm pathname (Linux PATH_MAX)
)

// Info is the content of one info file.
type Info struct {
	IP      netip.Addr // IPv4 address the server listens on
	Port    int        // TCP port, 1..65535
	ShmPath string     // pathname given to ftok(3)
	ProjID  int        // proj_id given to ftok(3); its low 8 bits are not 0
}

// LineError says which line of an info file is wrong and why.
type LineError struct {
	Line int // 1-based; 0 for faults of the whole file
	Err  error
}

func (e *LineError) Error() string {
	if e.Line == 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Format renders info as the exercise's four lines.
func Format(info Info) []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n%d\n", info.IP, info.Port, info.ShmPath, info.ProjID)
}

// Validate checks the values an info file may carry, so a server refuses to
// advertise what no client could parse: every field, and the size of the file
// that Format makes of them.
func Validate(info Info) error {
	switch {
	case !info.IP.Is4():
		return &LineError{1, fmt.Errorf("IP %q is not an IPv4 address", info.IP)}
	case info.Port < 1 || info.Port > 65535:
		return &LineError{2, fmt.Errorf("port %d is outside 1..65535", info.Port)}
	case info.ShmPath == "":
		return &LineError{3, errors.New("shm pathname is empty")}
	case len(info.ShmPath) > MaxPathLen:
		return &LineError{3, fmt.Errorf("shm pathname is %d bytes, longer than %d", len(info.ShmPath), MaxPathLen)}
	case strings.ContainsAny(info.ShmPath, "\r\n\x00"):
		return &LineError{3, errors.New("shm pathname holds a line break or NUL")}
	case info.ProjID&0xff == 0:
		return &LineError{4, fmt.Errorf("proj_id %d has low 8 bits 0, which ftok(3) rejects", info.ProjID)}
	case len(Format(info)) > MaxFileSize:
		// Each field fits, but together they make a file that Parse refuses.
		return &LineError{0, fmt.Errorf("the four lines take %d bytes, more than the %d an info file may hold", len(Format(info)), MaxFileSize)}
	}
	return nil
}

// Parse reads an info file's content. Lines may end in "\n" or "\r\n"; the last
// line may lack its newline.
func Parse(data []byte) (Info, error) {
	if len(data) > MaxFileSize {
		return Info{}, &LineError{0, fmt.Errorf("file is larger than %d bytes", MaxFileSize)}
	}
	text := strings.TrimSuffix(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || text == "" {
		n := len(lines)
		if text == "" {
			n = 0
		}
		return Info{}, &LineError{0, fmt.Errorf("has %d lines, want 4 (IP, port, shm pathname, proj_id)", n)}
	}
	var info Info
	ip, err := netip.ParseAddr(lines[0])
	if err != nil || !ip.Is4() {
		return Info{}, &LineError{1, fmt.Errorf("IP %q is not an IPv4 address", lines[0])}
	}
	info.IP = ip
	port, err := strconv.Atoi(lines[1])
	if err != nil || port < 1 || port > 65535 {
		return Info{}, &LineError{2, fmt.Errorf("port %q is not a number in 1..65535", lines[1])}
	}
	info.Port = port
	info.ShmPath = lines[2]
	projID, err := strconv.Atoi(lines[3])
	if err != nil {
		return Info{}, &LineError{4, fmt.Errorf("proj_id %q is not a number", lines[3])}
	}
	info.ProjID = projID
	if err := Validate(info); err != nil {
		return Info{}, err
	}
	return info, nil
}

// ValidateName checks an info file name given to a server: a plain name that the
// client will list (no "/", no "..", no leading ".").
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("info file name is empty")
	case strings.Contains(name, "/"):
		return fmt.Errorf("info file name %q contains '/'", name)
	case strings.Contains(name, ".."):
		return fmt.Errorf("info file name %q contains '..'", name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("info file name %q starts with '.', which clients skip", name)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("info file name %q contains NUL", name)
	}
	return nil
}

// Write stores info as dir/name atomically: it writes a dot-named temporary file in
// dir and renames it, so a reader sees either no file or the whole file. It
// returns the final path.
func Write(dir, name string, info Info) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	if err := Validate(info); err != nil {
		return "", fmt.Errorf("info file %s: %w", name, err)
	}
	final := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return "", err // *os.PathError names the directory
	}
	_, werr := tmp.Write(Format(info))
	cerr := tmp.Chmod(0o644) // readable by clients of any uid, whatever the umask
	if err := errors.Join(werr, cerr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return final, nil
}

// Entry is one candidate info file found by List.
type Entry struct {
	Name string // file name within the directory
	Path string
	Info Info  // valid when Err is nil
	Err  error // why the file is not a usable info file
}

// List reads every info file in dir, sorted by name. Directories, symlinks,
// other non-regular files and names starting with "." are not info files and are
// left out silently, and so is a file that is removed, or replaced by one of
// those, between the listing and the read (a server that just finished); a
// regular file that does not parse is returned with Err set.
func List(dir string) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var entries []Entry
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") || !de.Type().IsRegular() {
			continue
		}
		e := Entry{Name: de.Name(), Path: filepath.Join(dir, de.Name())}
		var skip bool
		if e.Info, skip, e.Err = readFile(e.Path); skip {
			continue
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return entries, nil
}

// Clear removes every entry of the info directory dir, files and whatever
// else a server put there, and returns their names, sorted.
func Clear(dir string) []string {
	des, _ := os.ReadDir(dir)
	var names []string
	for _, de := range des {
		if os.RemoveAll(filepath.Join(dir, de.Name())) == nil {
			names = append(names, de.Name())
		}
	}
	return names
}

// Read reads the info file at path as List reads each one: never through a
// symlink, never from a FIFO or other non-regular file, at most
// MaxFileSize+1 bytes. A file that is not there, or not a regular file,
// is an error that wraps fs.ErrNotExist: an info file that is not there yet.
func Read(path string) (Info, error) {
	info, skip, err := readFile(path)
	if skip && err == nil {
		err = &fs.PathError{Op: "read info file", Path: path, Err: fs.ErrNotExist}
	}
	return info, err
}

// readFile reads at most MaxFileSize+1 bytes, so a huge or endless file (a FIFO
// swapped in after the listing) costs nothing. skip reports that path is no
// longer a regular file, or no longer exists.
func readFile(path string) (info Info, skip bool, err error) {
	data, skip, err := readRaw(path)
	if skip || err != nil {
		return Info{}, skip, err
	}
	info, err = Parse(data)
	return info, false, err
}

// readRaw is readFile's read, without the parse.
func readRaw(path string) (data []byte, skip bool, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscallNoFollow|syscallNonBlock, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		// O_NOFOLLOW fails on a symlink, with ELOOP on Linux but not
		// everywhere. (The open's own error decides "not there": a file
		// renamed into place between the open and this Lstat is no error.)
		st, lerr := os.Lstat(path)
		if errors.Is(lerr, fs.ErrNotExist) || lerr == nil && !st.Mode().IsRegular() {
			return nil, true, nil
		}
		return nil, false, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, false, err
	} else if !st.Mode().IsRegular() {
		return nil, true, nil
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(f, MaxFileSize+1)); err != nil {
		return nil, false, err
	}
	return buf.Bytes(), false, nil
}

package scenario

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/isolab/isolab/internal/report"
)

// The kinds of problem a scenario can have. Every error from Parse, Validate and
// Allocate is an *Error that unwraps to one of these, for errors.Is.
var (
	ErrUnknownKey    = errors.New("unknown key")
	ErrNoServers     = errors.New("no servers")
	ErrBadName       = errors.New("bad name")
	ErrDuplicateName = errors.New("duplicate name")
	ErrUnknownEnv    = errors.New("unknown env")
	ErrBadPort       = errors.New("bad port")
	ErrBadProjID     = errors.New("bad proj_id")
	ErrBadShmPath    = errors.New("bad shm_path")
	ErrBadMessage    = errors.New("bad message")
	ErrBadOption     = errors.New("bad engine option")
	ErrBadExpect     = errors.New("bad expect")
	ErrBadTimeout    = errors.New("bad accept_timeout")
	ErrCollision     = errors.New("collision")
	ErrExhausted     = errors.New("nothing left to allocate")
)

// Error is a problem with a scenario file, and with one of its servers when Index is
// set. Its text names both: `scenario lab.toml: server "web": port 70000 outside 1..65535`.
type Error struct {
	File   string // the scenario file, as given to Load or Parse
	Index  int    // the server's position in the file, from 1; 0 for the file itself
	Server string // the server's name; "" when it has none or Index is 0
	Err    error  // what is wrong; unwraps to one of the Err... values
}

// Error returns the problem prefixed with the file and the server.
func (e *Error) Error() string {
	switch {
	case e.Server != "":
		return fmt.Sprintf("scenario %s: server %q: %v", e.File, e.Server, e.Err)
	case e.Index > 0:
		return fmt.Sprintf("scenario %s: server #%d (no name): %v", e.File, e.Index, e.Err)
	}
	return fmt.Sprintf("scenario %s: %v", e.File, e.Err)
}

// Unwrap returns the problem, so errors.Is finds its kind.
func (e *Error) Unwrap() error { return e.Err }

// problemf formats a problem of kind kind: the text is format's, and it unwraps to kind.
func problemf(kind error, format string, args ...any) error {
	return wrapped{fmt.Sprintf(format, args...), kind}
}

// at wraps err as the problem of the server at index i (from 0), or of the file
// when i < 0.
func (sc *Scenario) at(i int, err error) error {
	e := &Error{File: sc.File, Err: err}
	if i >= 0 {
		e.Index, e.Server = i+1, sc.Servers[i].Name
	}
	return e
}

// nameRE is what a server name may look like: it names a file, a container and a
// systemd unit, so it follows Docker's rule for container names, bounded.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// The limits on messages: a segment holds 4096 bytes including the NUL that ends
// the message, and the client reads at most 64 KiB from a socket.
const (
	maxShmMsg    = 4095
	maxSocketMsg = 64 << 10
	maxShmPath   = 1024
)

// Validate checks every server and the servers against each other: names usable
// as file names and unique, known environments, ports in 1..65535, proj_ids in
// 1..255, messages without white space, engine options that fit the environment,
// and no two servers sharing a port in one network namespace (PortSpace) or an
// ftok key (same shm_path and proj_id). Unset ports and proj_ids are not checked.
// It returns every problem, joined, each an *Error naming the file and server.
func (sc *Scenario) Validate() error {
	var errs []error
	if len(sc.Servers) == 0 {
		errs = append(errs, sc.at(-1, problemf(ErrNoServers, "no [[server]] tables: nothing to run")))
	}
	if sc.PortBase != 0 && (sc.PortBase < 1 || sc.PortBase > 65535) {
		errs = append(errs, sc.at(-1, problemf(ErrBadPort, "port_base %d outside 1..65535", sc.PortBase)))
	}
	if sc.AcceptTimeout < 0 {
		errs = append(errs, sc.at(-1, problemf(ErrBadTimeout, "accept_timeout %v is negative", sc.AcceptTimeout)))
	}
	first := map[string]int{}
	for i, s := range sc.Servers {
		for _, err := range s.problems() {
			errs = append(errs, sc.at(i, err))
		}
		if s.Name == "" {
			continue
		}
		if j, ok := first[s.Name]; ok {
			errs = append(errs, sc.at(i, problemf(ErrDuplicateName, "server #%d reuses the name of server #%d", i+1, j+1)))
			continue
		}
		first[s.Name] = i
	}
	errs = append(errs, sc.collisions()...)
	return errors.Join(errs...)
}

// problems returns what is wrong with s on its own.
func (s Server) problems() []error {
	var errs []error
	add := func(kind error, format string, args ...any) {
		errs = append(errs, problemf(kind, format, args...))
	}

	switch {
	case s.Name == "":
		add(ErrBadName, "missing name")
	case !nameRE.MatchString(s.Name):
		add(ErrBadName, "name %q is not usable as a file name: use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 bytes", s.Name)
	}

	envs := fmt.Sprintf("want %s", orList(Envs))
	switch {
	case s.Env == "":
		add(ErrUnknownEnv, "missing env (%s)", envs)
	case !s.Env.Valid():
		add(ErrUnknownEnv, "unknown env %q (%s)", s.Env, envs)
	}

	if s.Port != 0 && (s.Port < 1 || s.Port > 65535) {
		add(ErrBadPort, "port %d outside 1..65535", s.Port)
	}
	switch {
	case s.ProjID == 0:
	case s.ProjID&0xff == 0:
		add(ErrBadProjID, "proj_id %d has its low 8 bits zero: ftok uses only those, so the key would not depend on it (want 1..255)", s.ProjID)
	case s.ProjID < 1 || s.ProjID > MaxProjID:
		add(ErrBadProjID, "proj_id %d outside 1..%d: ftok uses only its low 8 bits", s.ProjID, MaxProjID)
	}
	if s.ShmPath != "" {
		if err := checkShmPath(s.ShmPath); err != nil {
			errs = append(errs, err)
		}
	}
	for _, m := range []struct {
		key, msg string
		max      int
	}{{"shm_msg", s.ShmMsg, maxShmMsg}, {"socket_msg", s.SocketMsg, maxSocketMsg}} {
		if err := checkMessage(m.key, m.msg, m.max); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.optionProblems()...)
	if s.Expect != "" {
		var c report.Class
		if err := c.UnmarshalText([]byte(s.Expect)); err != nil {
			add(ErrBadExpect, "expect: %v", err)
		}
	}
	return errs
}

// checkShmPath checks a shm_path as the scenario gives it.
func checkShmPath(p string) error {
	switch {
	case len(p) > maxShmPath:
		return problemf(ErrBadShmPath, "shm_path is %d bytes long (at most %d)", len(p), maxShmPath)
	case strings.IndexFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 || !utf8.ValidString(p):
		return problemf(ErrBadShmPath, "shm_path %q holds white space, control characters or invalid UTF-8: the info file keeps it on one line", p)
	case !filepath.IsLocal(p):
		return problemf(ErrBadShmPath, "shm_path %q must be relative to the shared directory and stay inside it", p)
	}
	clean := filepath.Clean(p)
	if clean == InfoDir || strings.HasPrefix(clean, InfoDir+"/") {
		return problemf(ErrBadShmPath, "shm_path %q lies in %s/, where the client would read it as an info file", p, InfoDir)
	}
	return nil
}

// checkMessage checks one of a server's messages.
func checkMessage(key, msg string, max int) error {
	switch {
	case msg == "":
		return problemf(ErrBadMessage, "missing %s", key)
	case !utf8.ValidString(msg):
		return problemf(ErrBadMessage, "%s %q is not valid UTF-8", key, msg)
	case strings.IndexFunc(msg, unicode.IsSpace) >= 0:
		return problemf(ErrBadMessage, "%s %q holds white space: the report separates messages with spaces", key, msg)
	case strings.IndexFunc(msg, unicode.IsControl) >= 0:
		return problemf(ErrBadMessage, "%s %q holds a control character", key, msg)
	case len(msg) > max:
		return problemf(ErrBadMessage, "%s is %d bytes long (at most %d)", key, len(msg), max)
	}
	return nil
}

// nsFlags are the engine flags that change what the host can see of a server;
// extra_args may not hold them, since the expected report derives from ipc,
// network and containall alone.
var nsFlags = map[Env][]string{
	EnvDocker:    {"--ipc", "--network", "--net"},
	EnvPodman:    {"--ipc", "--network", "--net"},
	EnvApptainer: {"--ipc", "-i", "--net", "-n", "--network", "--containall", "-C"},
	EnvVM:        {"-nic", "-netdev", "-net"},
}

// optionProblems checks ipc, network, containall and extra_args against the env.
func (s Server) optionProblems() []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, problemf(ErrBadOption, format, args...))
	}
	if !s.Env.Valid() {
		return nil // reported already; which options fit is unknown
	}
	if s.IPC != "" {
		switch {
		case !s.Env.Namespaced():
			add("ipc is for containers, not %s servers", s.Env)
		case s.IPC != IPCPrivate && s.IPC != IPCHost:
			add("unknown ipc %q (want %s)", s.IPC, orList([]IPC{IPCPrivate, IPCHost}))
		}
	}
	if s.Network != "" {
		want := []Network{NetworkBridge, NetworkHost, NetworkNone}
		if s.Env == EnvApptainer || s.Env == EnvUnshare {
			want = []Network{NetworkHost, NetworkNone}
		}
		switch {
		case !s.Env.Namespaced():
			add("network is for containers, not %s servers", s.Env)
		case !slices.Contains(want, s.Network):
			add("network %q does not fit %s (want %s)", s.Network, s.Env, orList(want))
		}
	}
	if s.Containall {
		switch {
		case s.Env != EnvApptainer:
			add("containall is for apptainer, not %s servers", s.Env)
		case s.IPC == IPCHost:
			add(`containall gives the container its own IPC namespace, which contradicts ipc = "host"`)
		}
	}
	if len(s.ExtraArgs) > 0 && (s.Env == EnvHost || s.Env == EnvUnshare) {
		add("extra_args are passed to an engine; a %s server has none", s.Env)
	}
	for _, a := range s.ExtraArgs {
		flag, _, _ := strings.Cut(a, "=")
		if slices.Contains(nsFlags[s.Env], flag) {
			hint := "set ipc, network or containall instead, so the expected report knows"
			if s.Env == EnvVM {
				hint = "the lab sets up the VM's network itself"
			}
			add("extra_args holds %q: %s", a, hint)
		}
	}
	return errs
}

// collisions returns the servers that share a port within a PortSpace, or an ftok
// key (the same ShmFile and proj_id), with another server, and those whose ShmFile
// would be another's directory. Unset ports and proj_ids are skipped.
func (sc *Scenario) collisions() []error {
	type portKey struct {
		space string
		port  int
	}
	type ftokKey struct {
		file   string
		projID int
	}
	ports := map[portKey]int{}
	keys := map[ftokKey]int{}
	var errs []error
	for i, s := range sc.Servers {
		if s.Port != 0 {
			k := portKey{s.PortSpace(), s.Port}
			if j, ok := ports[k]; ok {
				errs = append(errs, sc.at(i, problemf(ErrCollision, "port %d is also server %s's, and the host's client reaches both in the host's network namespace", s.Port, sc.label(j))))
			} else {
				ports[k] = i
			}
		}
		if s.ProjID != 0 {
			k := ftokKey{s.ShmFile(), s.ProjID}
			if j, ok := keys[k]; ok {
				errs = append(errs, sc.at(i, problemf(ErrCollision, "shm_path %q with proj_id %d is also server %s's: ftok would give both the same key", k.file, s.ProjID, sc.label(j))))
			} else {
				keys[k] = i
			}
		}
	}
	// The lab creates every ShmFile, so none may be the directory of another.
	for i, s := range sc.Servers {
		for j, o := range sc.Servers {
			if f := s.ShmFile(); i != j && strings.HasPrefix(o.ShmFile(), f+"/") {
				errs = append(errs, sc.at(i, problemf(ErrCollision, "shm_path %q would have to be a file and also the directory holding server %s's %q", f, sc.label(j), o.ShmFile())))
				break
			}
		}
	}
	return errs
}

// label names the server at index i for a message about another server.
func (sc *Scenario) label(i int) string {
	if n := sc.Servers[i].Name; n != "" {
		return fmt.Sprintf("%q", n)
	}
	return fmt.Sprintf("#%d", i+1)
}

// orList renders values as `"a", "b" or "c"`.
func orList[T ~string](values []T) string {
	var b strings.Builder
	for i, v := range values {
		switch {
		case i == 0:
		case i == len(values)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", v)
	}
	return b.String()
}

package scenario

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/isolab/isolab/internal/report"
)

//go:embed default.toml
var defaultTOML []byte

// DefaultName is the file name errors give for the embedded default scenario.
const DefaultName = "default.toml (embedded)"

// DefaultPortBase is the first port Allocate hands out when the scenario sets no
// port_base. It lies below Linux's default ephemeral range (32768-60999), so an
// outgoing connection made at the same time cannot already hold it.
const DefaultPortBase = 31000

// MaxProjID is the largest proj_id: ftok uses only its low 8 bits.
const MaxProjID = 255

// InfoDir is the subdirectory of the lab's shared directory that holds the info
// files. Every server writes its info file there and the client reads it.
const InfoDir = "info"

// ShmDir is the subdirectory of the lab's shared directory that holds the files
// keying the segments of servers whose scenario sets no shm_path: ShmDir/NAME.
const ShmDir = "shm"

// Env is where a server runs.
type Env string

// The environments a scenario can name.
const (
	EnvHost      Env = "host"      // a process on the host
	EnvDocker    Env = "docker"    // an OCI container run by Docker
	EnvPodman    Env = "podman"    // an OCI container run by Podman
	EnvApptainer Env = "apptainer" // an Apptainer container
	EnvVM        Env = "vm"        // a QEMU virtual machine
	EnvUnshare   Env = "unshare"   // a process on the host in namespaces of its own, made by unshare(1)
)

// Envs lists every environment, in the order the documentation gives them.
var Envs = []Env{EnvHost, EnvDocker, EnvPodman, EnvApptainer, EnvVM, EnvUnshare}

// Valid reports whether e is one of Envs.
func (e Env) Valid() bool { return slices.Contains(Envs, e) }

// OCI reports whether e is run by an OCI engine (Docker or Podman).
func (e Env) OCI() bool { return e == EnvDocker || e == EnvPodman }

// Container reports whether e is a container: Docker, Podman or Apptainer.
func (e Env) Container() bool { return e.OCI() || e == EnvApptainer }

// Namespaced reports whether the scenario's ipc and network choose e's
// namespaces: a container, or a process under unshare.
func (e Env) Namespaced() bool { return e.Container() || e == EnvUnshare }

// Nominal returns the class a reader expects of a server from the kind of its
// environment alone: Host for a process on the host (under unshare too: no
// image, no engine), Container for a container, VM for a VM. Where the
// client's rule gives another class, the rule misleads.
func (e Env) Nominal() report.Class {
	switch {
	case e.Container():
		return report.Container
	case e == EnvVM:
		return report.VM
	}
	return report.Host
}

// IPC is a container's IPC namespace, the one its shared memory lives in.
type IPC string

// The IPC settings a scenario can name.
const (
	IPCPrivate IPC = "private" // its own IPC namespace
	IPCHost    IPC = "host"    // the host's IPC namespace
)

// Network is a container's network namespace.
type Network string

// The network settings a scenario can name.
const (
	NetworkBridge Network = "bridge" // its own namespace on the engine's bridge
	NetworkHost   Network = "host"   // the host's network namespace
	NetworkNone   Network = "none"   // its own namespace with loopback only
)

// Scenario is a parsed scenario file.
type Scenario struct {
	// File is where the scenario was read from (DefaultName for the embedded one);
	// errors name it.
	File string `toml:"-"`
	// PortBase is the first port Allocate hands out; 0 means DefaultPortBase.
	PortBase int `toml:"port_base"`
	// AcceptTimeout is the servers' -accept-timeout; 0 means the server's default.
	AcceptTimeout time.Duration `toml:"accept_timeout"`
	// Servers are the servers in the order the file lists them.
	Servers []Server `toml:"server"`
}

// Server is one [[server]] table of a scenario. Zero values mean "not set"; Allocate
// replaces them with the values the lab uses.
type Server struct {
	Name      string  `toml:"name"`       // info file name and container name suffix
	Env       Env     `toml:"env"`        // where the server runs
	Port      int     `toml:"port"`       // TCP port, 1..65535
	ShmPath   string  `toml:"shm_path"`   // ftok pathname, relative to the shared directory
	ProjID    int     `toml:"proj_id"`    // ftok project id, 1..255
	ShmMsg    string  `toml:"shm_msg"`    // message written to shared memory
	SocketMsg string  `toml:"socket_msg"` // message sent over the socket
	IPC       IPC     `toml:"ipc"`        // containers: private or host
	Network   Network `toml:"network"`    // containers: bridge, host or none
	// Containall runs an Apptainer server with --containall.
	Containall bool `toml:"containall"`
	// ExtraArgs are appended to the engine's command line.
	ExtraArgs []string `toml:"extra_args"`
	// Expect, when set, is the class the expected report gives the server
	// ("Host", "Container" or "VM") instead of the derived one.
	Expect string `toml:"expect"`
	// Rootless is set by the lab, never by the file: the server's OCI engine runs
	// without root, so a bridge network is out of the host's reach.
	Rootless bool `toml:"-"`
}

// Load reads the scenario file at path, or the embedded default when path is "",
// then validates it and allocates what it leaves out (see Parse). The lab passes
// the value of LAB_SCENARIO as path.
func Load(path string) (*Scenario, error) {
	if path == "" {
		return Parse(DefaultName, defaultTOML)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, data)
}

// DefaultTOML returns the text of the embedded default scenario, for a user to copy.
func DefaultTOML() []byte { return slices.Clone(defaultTOML) }

// Parse decodes a scenario from data, refuses keys it does not know, validates it
// (Validate) and hands out ports, proj_ids and shm paths (Allocate). file names the
// source in errors. Validation problems come back together, joined with errors.Join,
// each an *Error.
func Parse(file string, data []byte) (*Scenario, error) {
	sc := &Scenario{File: file}
	md, err := toml.Decode(string(data), sc)
	if err != nil {
		return nil, &Error{File: file, Err: err}
	}
	if err := unknownKeys(sc, md, data); err != nil {
		return nil, err
	}
	if md.Type("accept_timeout") == "Integer" {
		return nil, &Error{File: file, Err: problemf(ErrBadTimeout, "accept_timeout = %d would mean nanoseconds; write a duration such as \"120s\"", int64(sc.AcceptTimeout))}
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	if err := sc.Allocate(); err != nil {
		return nil, err
	}
	return sc, nil
}

var (
	topKeys    = []string{"port_base", "accept_timeout", "server"}
	serverKeys = []string{"name", "env", "port", "shm_path", "proj_id", "shm_msg", "socket_msg", "ipc", "network", "containall", "extra_args", "expect"}
)

// unknownKeys turns the keys toml left undecoded into errors naming the file, the
// server whose table holds the key (toml's keys carry no array index, so the raw
// tables are searched for it) and, for a near miss, the key that was meant.
func unknownKeys(sc *Scenario, md toml.MetaData, data []byte) error {
	undecoded := md.Undecoded()
	if len(undecoded) == 0 {
		return nil
	}
	var raw struct {
		Server []map[string]any `toml:"server"`
	}
	_, _ = toml.Decode(string(data), &raw) // it decoded once already
	var errs []error
	seen := map[string]int{} // how often each server key was met so far
	for _, k := range undecoded {
		e := &Error{File: sc.File}
		name, near := k.String(), ""
		switch {
		case len(k) == 1:
			near = nearest(k[0], topKeys)
		case len(k) == 2 && k[0] == "server":
			near = nearest(k[1], serverKeys)
			// The n-th occurrence of a key is in the n-th table that holds it.
			n := seen[k[1]]
			seen[k[1]]++
			for i, tbl := range raw.Server {
				if _, ok := tbl[k[1]]; ok && i < len(sc.Servers) {
					if n > 0 {
						n--
						continue
					}
					e.Index, e.Server = i+1, sc.Servers[i].Name
					name = k[1] // the server is named already
					break
				}
			}
		}
		msg := fmt.Sprintf("%v %q", ErrUnknownKey, name)
		if near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		e.Err = wrapped{msg, ErrUnknownKey}
		errs = append(errs, e)
		if len(errs) == 10 {
			errs = append(errs, fmt.Errorf("scenario %s: %d unknown keys in all", sc.File, len(undecoded)))
			break
		}
	}
	return errors.Join(errs...)
}

// wrapped is an error with its own text that unwraps to a sentinel.
type wrapped struct {
	msg string
	err error
}

func (w wrapped) Error() string { return w.msg }
func (w wrapped) Unwrap() error { return w.err }

// nearest returns the candidate within edit distance 2 of s, if there is one.
func nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// InfoName returns the name of s's info file in InfoDir: the server's name itself.
// The client reads info files in byte order of their names (sort.Strings), so the
// messages of the report come in that order.
func InfoName(s Server) string { return s.Name }

// ShmFile returns the pathname keying s's segment, relative to the lab's shared
// directory: ShmPath cleaned, or ShmDir/NAME when it is not set.
func (s Server) ShmFile() string {
	if s.ShmPath == "" {
		return path.Join(ShmDir, s.Name)
	}
	return path.Clean(s.ShmPath)
}

// EffectiveIPC returns the IPC namespace a container or unshare server gets: IPC
// when set, else private for every engine (Apptainer is run with --ipc, unshare
// with --ipc). It is IPCHost for a host server and "" for a VM, which has a
// kernel of its own.
func (s Server) EffectiveIPC() IPC {
	switch {
	case s.Env == EnvHost:
		return IPCHost
	case !s.Env.Namespaced():
		return ""
	case s.Containall:
		return IPCPrivate
	case s.IPC != "":
		return s.IPC
	}
	return IPCPrivate
}

// EffectiveNetwork returns the network namespace a container or unshare server
// gets: Network when set, else bridge for Docker and Podman and host for
// Apptainer and unshare (which share the host's network unless told otherwise).
// It is NetworkHost for a host server and "" for a VM.
func (s Server) EffectiveNetwork() Network {
	switch {
	case s.Env == EnvHost:
		return NetworkHost
	case !s.Env.Namespaced():
		return ""
	case s.Network != "":
		return s.Network
	case s.Env == EnvApptainer, s.Env == EnvUnshare:
		return NetworkHost
	}
	return NetworkBridge
}

// PortSpace names the set of servers among which s's port must be unique:
// "host" for every server whose socket the host's client reaches in the host's
// network namespace, "own:NAME" for a server with a namespace of its own. A server
// with network "none" is in "host": it has only loopback, advertises 127.0.0.1,
// and the client resolves that address on the host, where another server with the
// same port would answer in its place.
func (s Server) PortSpace() string {
	switch s.EffectiveNetwork() {
	case NetworkHost, NetworkNone:
		return "host"
	}
	return "own:" + s.Name
}

// UseEngine returns a copy of servers in which every Docker or Podman server runs
// with engine instead, for a lab told to use one OCI engine (LAB_ENGINE).
func UseEngine(servers []Server, engine Env) ([]Server, error) {
	if !engine.OCI() {
		return nil, fmt.Errorf("use engine %q: %w (want docker or podman)", engine, ErrUnknownEnv)
	}
	out := slices.Clone(servers)
	for i := range out {
		if out[i].Env.OCI() {
			out[i].Env = engine
		}
	}
	return out, nil
}

// String returns the server as "NAME (ENV)".
func (s Server) String() string {
	return fmt.Sprintf("%s (%s)", s.Name, s.Env)
}

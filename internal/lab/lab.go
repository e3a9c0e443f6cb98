package lab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/isolab/isolab/internal/labnet"
	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/scenario"
)

// Environment variables the lab reads.
const (
	VarDir         = "LAB_DIR"
	VarScenario    = "LAB_SCENARIO"
	VarEngine      = "LAB_ENGINE"
	VarApptainer   = "LAB_APPTAINER_FLAGS"
	VarClientFlags = "LAB_CLIENT_FLAGS"
)

// Config says where the lab works and how it talks.
type Config struct {
	Root    string    // repository root: bin/, images/ and scripts/ are found here
	Dir     string    // lab directory; "" means $LAB_DIR, else Root/lab
	Out     io.Writer // progress lines; nil means os.Stdout
	Verbose bool      // show sub-commands' output live
	// Scenario, when set, is run instead of $LAB_SCENARIO or the default.
	Scenario *scenario.Scenario
	// Engine, when set (runenv.Docker or runenv.Podman), runs every Docker
	// or Podman server with this engine instead of $LAB_ENGINE's or the
	// detected one.
	Engine runenv.Kind
}

// Lab is one lab directory and what runs from it.
type Lab struct {
	Config
	start time.Time
	live  map[string]runenv.Server // the servers this process started, by name
	// serverBin replaces bin/server (tests: a server that exits non-zero).
	serverBin string
}

// New returns a lab for cfg, with its directories made absolute (a server bound
// into a container must see the same absolute paths as the host).
func New(cfg Config) (*Lab, error) {
	if cfg.Root == "" {
		cfg.Root = "."
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, err
	}
	cfg.Root = root
	if cfg.Dir == "" {
		cfg.Dir = os.Getenv(VarDir)
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(root, "lab")
	}
	if cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
		return nil, err
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	return &Lab{Config: cfg, start: time.Now()}, nil
}

// SharedDir is bound into every environment at the same path.
func (l *Lab) SharedDir() string { return filepath.Join(l.Dir, "shared") }

// InfoDir is where the servers write their info files and the client reads them.
func (l *Lab) InfoDir() string { return filepath.Join(l.SharedDir(), scenario.InfoDir) }

// RunDir holds the state file and what the environments keep of the servers.
func (l *Lab) RunDir() string { return filepath.Join(l.Dir, "run") }

// LogDir holds one log per server, and dockerd's and the engines'.
func (l *Lab) LogDir() string { return filepath.Join(l.Dir, "logs") }

// BinDir holds the static binaries the lab builds.
func (l *Lab) BinDir() string { return filepath.Join(l.Root, "bin") }

// ShmPath is the absolute ftok pathname of a server.
func (l *Lab) ShmPath(s scenario.Server) string {
	return filepath.Join(l.SharedDir(), filepath.FromSlash(s.ShmFile()))
}

// LogPath is the log file of a server's environment.
func (l *Lab) LogPath(name string) string { return filepath.Join(l.LogDir(), name+".log") }

// id names this lab directory: in its network namespace's name, container
// names and labels, so that two checkouts (or a test and a user's lab) never
// meet.
func (l *Lab) id() string {
	sum := sha256.Sum256([]byte(l.Dir))
	return hex.EncodeToString(sum[:4])
}

// Net is the lab's network: its namespace, named from LAB_DIR, and the
// private dockerd's files. dockerd keeps its images under LAB_DIR/docker.
func (l *Lab) Net() labnet.Config {
	return labnet.Config{
		Name:     "isolab-" + l.id(),
		DataRoot: filepath.Join(l.Dir, "docker"),
		Log:      filepath.Join(l.LogDir(), "dockerd.log"),
	}
}

// Printf prints one progress line.
func (l *Lab) Printf(format string, args ...any) {
	fmt.Fprintf(l.Out, format+"\n", args...)
}

// Step runs f and prints one line naming it with its duration, or its failure.
func (l *Lab) Step(what string, f func() error) error {
	t := time.Now()
	err := f()
	d := time.Since(t)
	if err != nil {
		l.Printf("%s FAILED after %s: %v", what, round(d), err)
		return fmt.Errorf("%s: %w", what, err)
	}
	l.Printf("%s %s", what, round(d))
	return nil
}

// round keeps a step's duration readable: 1.23s, 45ms.
func round(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }

// log is where engine command lines and the guests' progress go: the
// terminal with -v, else logs/engine.log.
func (l *Lab) log() io.Writer {
	if l.Verbose {
		return l.Out
	}
	if err := os.MkdirAll(l.LogDir(), 0o755); err != nil {
		return io.Discard
	}
	f, err := os.OpenFile(filepath.Join(l.LogDir(), "engine.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return io.Discard
	}
	return f // stays open for the life of the process, like a logger
}

package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/isolab/isolab/internal/engine"
	"github.com/isolab/isolab/internal/scenario"
)

// Environment variables the lab reads.
const (
	EnvDir       = "LAB_DIR"
	EnvScenario  = "LAB_SCENARIO"
	EnvEngine    = "LAB_ENGINE"
	EnvApptainer = "LAB_APPTAINER_FLAGS"
)

// Config says where the lab works and how it talks.
type Config struct {
	Root    string    // repository root: bin/, images/ and scripts/ are found here
	Dir     string    // lab directory; "" means $LAB_DIR, else Root/lab
	Out     io.Writer // progress lines; nil means os.Stdout
	Verbose bool      // show sub-commands' output live
	// Scenario, when set, is run instead of $LAB_SCENARIO or the default.
	Scenario *scenario.Scenario
	// Engine, when set, runs every Docker or Podman server with this engine
	// instead of $LAB_ENGINE's or the detected one.
	Engine engine.Kind
}

// Lab is one lab directory and what runs from it.
type Lab struct {
	Config
	start time.Time
	envs  *environments // backends of the servers this process started
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
		cfg.Dir = os.Getenv(EnvDir)
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

// Paths inside the lab directory.
func (l *Lab) SharedDir() string { return filepath.Join(l.Dir, "shared") }

// InfoDir is where the servers write their info files and the client reads them.
func (l *Lab) InfoDir() string { return filepath.Join(l.SharedDir(), scenario.InfoDir) }

// RunDir holds the state file and pid files of what is up.
func (l *Lab) RunDir() string { return filepath.Join(l.Dir, "run") }

// LogDir holds one log per environment.
func (l *Lab) LogDir() string { return filepath.Join(l.Dir, "logs") }

// BinDir holds the static binaries the lab builds.
func (l *Lab) BinDir() string { return filepath.Join(l.Root, "bin") }

// ShmPath is the absolute ftok pathname of a server.
func (l *Lab) ShmPath(s scenario.Server) string {
	return filepath.Join(l.SharedDir(), filepath.FromSlash(s.ShmFile()))
}

// LogPath is the log file of a server's environment.
func (l *Lab) LogPath(name string) string { return filepath.Join(l.LogDir(), name+".log") }

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

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// Command runs a sub-command. Its output is shown live with Verbose, else kept
// and returned inside the error when it fails, so a failure can be read and
// re-run by hand.
func (l *Lab) Command(ctx context.Context, argv ...string) (string, error) {
	return l.CommandEnv(ctx, nil, argv...)
}

// CommandEnv is Command with extra environment variables ("K=V").
func (l *Lab) CommandEnv(ctx context.Context, env []string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = l.Root
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var out bytes.Buffer
	if l.Verbose {
		l.Printf("+ %s", engine.Quote(argv))
		cmd.Stdout = io.MultiWriter(&out, l.Out)
		cmd.Stderr = io.MultiWriter(&out, l.Out)
	} else {
		cmd.Stdout = &out
		cmd.Stderr = &out
	}
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w\n%s", engine.Quote(argv), err, tail(out.String(), 20))
	}
	return out.String(), nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TailFile returns the last n lines of a file, or a note that it cannot be read.
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(string(b), n)
}

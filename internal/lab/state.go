package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/scenario"
)

// Running is one started server as the state file records it, so that a later
// lab:status or lab:down (another process) can find it.
type Running struct {
	scenario.Server
	ShmPath  string        `json:"shm_path_abs"`      // absolute ftok pathname
	Key      string        `json:"key"`               // its key as the host computes it
	InfoFile string        `json:"info_file"`         // absolute path of the info file
	Handle   runenv.Handle `json:"handle"`            // how to find it again: pid, container, guest
	Address  string        `json:"address,omitempty"` // ip:port from its info file once ready

	AcceptTimeout time.Duration `json:"accept_timeout,omitempty"` // server's -accept-timeout; 0: its default
}

// State is what lab:up leaves for lab:status, lab:client and lab:down.
type State struct {
	Scenario   string    `json:"scenario"`
	Started    time.Time `json:"started"`
	Expected   string    `json:"expected"`              // the five lines the scenario predicts
	NetNS      string    `json:"netns"`                 // the lab's network namespace
	DockerHost string    `json:"docker_host,omitempty"` // its dockerd, when it has one
	Servers    []Running `json:"servers"`
}

func (l *Lab) statePath() string { return filepath.Join(l.RunDir(), "state.json") }

// SaveState writes st atomically.
func (l *Lab) SaveState(st *State) error {
	if err := os.MkdirAll(l.RunDir(), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, l.statePath())
}

// LoadState reads the state file; a missing file gives (nil, nil).
func (l *Lab) LoadState() (*State, error) {
	b, err := os.ReadFile(l.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state file %s: %w (remove it, or run go tool mage lab:down)", l.statePath(), err)
	}
	return &st, nil
}

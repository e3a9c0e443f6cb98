package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config describes one guest.
type Config struct {
	Name       string   // names the guest's files in RunDir, e.g. "vm1"
	RunDir     string   // overlay, pid file, QMP socket, serial log, command line
	Image      Image    // from EnsureImage
	SharedDir  string   // absolute; the guest mounts it at the same path
	ServerArgs []string // the server's arguments, without the binary
	// ServerBinary, when set, is a static server binary on SharedDir that the
	// guest runs instead of the image's own (WithServerBinary).
	ServerBinary string
	// StatusFile, when set, is a file on SharedDir where the guest writes the
	// server's exit status once it has exited (WithStatusFile; see ExitStatus).
	StatusFile string
	Accel      Accel  // "" means DetectAccel (LAB_ACCEL, /proc/cpuinfo, /dev/kvm)
	Binary     string // "" means qemu-system-x86_64 from PATH
	// NewNetNS starts QEMU in a new, empty network namespace (needs root).
	// The guest is unreachable and reaches nothing either way (restrict=on);
	// this is for tests run where the host has a route out.
	NewNetNS bool
	// Options are added after the ones Start derives from the fields above,
	// e.g. WithMemory(1024).
	Options []Option
	Log     io.Writer // Start and Stop say here what they do; nil discards
}

// Machine is one guest as its files in the run directory describe it. A
// Machine made by New from the same Name and RunDir in another process (as in
// lab:down after lab:up) finds the same guest.
type Machine struct {
	Config      Config
	Overlay     string // qcow2 over Image.Disk, removed by Stop
	PIDFile     string // written by QEMU, removed when it exits
	QMPSocket   string // QEMU's control socket
	SerialLog   string // the guest's console, as written
	Console     string // the guest's console, a Unix socket to attach to
	CommandFile string // the exact QEMU command line, to re-run by hand
}

// New names the files of the guest cfg describes; it starts nothing.
func New(cfg Config) *Machine {
	p := func(suffix string) string { return filepath.Join(cfg.RunDir, cfg.Name+suffix) }
	return &Machine{
		Config:      cfg,
		Overlay:     p(".qcow2"),
		PIDFile:     p(".pid"),
		QMPSocket:   p(".qmp"),
		SerialLog:   p(".serial.log"),
		Console:     p(".console"),
		CommandFile: p(".cmd"),
	}
}

// argv is the QEMU command line for m, with the accelerator chosen; debug
// boots lab-debug.target, which adds a root shell on the console.
func (m *Machine) argv(accel Accel, debug bool) ([]string, error) {
	c := m.Config
	opts := []Option{
		WithAccel(accel),
		WithKernel(c.Image.Kernel),
		WithInitrd(c.Image.Initrd),
		WithDisk(m.Overlay),
		WithSharedDir(c.SharedDir),
		WithUserNet(),
		WithServer(c.ServerArgs...),
		WithSerial(m.SerialLog, m.Console),
		WithPIDFile(m.PIDFile),
		WithQMP(m.QMPSocket),
		WithDaemonize(),
	}
	if c.ServerBinary != "" {
		opts = append(opts, WithServerBinary(c.ServerBinary))
	}
	if c.StatusFile != "" {
		opts = append(opts, WithStatusFile(c.StatusFile))
	}
	if c.Binary != "" {
		opts = append(opts, WithBinary(c.Binary))
	}
	if debug {
		opts = append(opts, WithAppend("systemd.unit=lab-debug.target"))
	}
	return Argv(append(opts, c.Options...)...)
}

// ExitStatus reads the server's exit status from the configured StatusFile,
// which the guest writes once its server has exited: 128+n after signal n. It
// fails when there is no status file (yet), as when the guest was killed
// before its server exited.
func (m *Machine) ExitStatus() (int, error) {
	if m.Config.StatusFile == "" {
		return -1, fmt.Errorf("exit status of VM %s: no status file configured", m.Config.Name)
	}
	b, err := os.ReadFile(m.Config.StatusFile)
	if err != nil {
		return -1, fmt.Errorf("exit status of VM %s: %w", m.Config.Name, err)
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1, fmt.Errorf("exit status of VM %s: %s holds %q", m.Config.Name, m.Config.StatusFile, b)
	}
	return code, nil
}

// logf writes one line to the configured log.
func (m *Machine) logf(format string, args ...any) {
	if m.Config.Log != nil {
		fmt.Fprintf(m.Config.Log, "%s: %s\n", m.Config.Name, fmt.Sprintf(format, args...))
	}
}

// serialTail returns the last lines of the guest's console, for errors.
func (m *Machine) serialTail() string {
	b, err := os.ReadFile(m.SerialLog)
	if err != nil {
		return fmt.Sprintf("(no serial log: %v)", err)
	}
	if len(b) == 0 {
		return "(serial log " + m.SerialLog + " is empty)"
	}
	return "serial log " + m.SerialLog + " ends:\n" + tail(string(b), 20)
}

// removeFiles removes the guest's overlay, pid file and sockets, keeping the
// serial log and command line for a look afterwards.
func (m *Machine) removeFiles() error {
	var errs []error
	for _, f := range []string{m.Overlay, m.PIDFile, m.QMPSocket, m.Console} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove VM file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// pressCtrlAltDel presses Ctrl-Alt-Del on the guest's keyboard through QEMU's
// QMP socket. The image links ctrl-alt-del.target to poweroff.target, so
// systemd stops the server (SIGTERM) and powers off; this needs no agent,
// ACPI daemon or logind in the guest.
func pressCtrlAltDel(ctx context.Context, socket string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("connect to QMP: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("QMP deadline: %w", err)
	}
	dec, enc := json.NewDecoder(conn), json.NewEncoder(conn)
	var greeting map[string]any
	if err := dec.Decode(&greeting); err != nil {
		return fmt.Errorf("read QMP greeting: %w", err)
	}
	keys := []map[string]string{}
	for _, k := range []string{"ctrl", "alt", "delete"} {
		keys = append(keys, map[string]string{"type": "qcode", "data": k})
	}
	for _, c := range []map[string]any{
		{"execute": "qmp_capabilities"},
		{"execute": "send-key", "arguments": map[string]any{"keys": keys}},
	} {
		if err := enc.Encode(c); err != nil {
			return fmt.Errorf("QMP %s: %w", c["execute"], err)
		}
		// Skip asynchronous events until the command's answer.
		for {
			var reply struct {
				Return json.RawMessage `json:"return"`
				Error  *struct {
					Desc string `json:"desc"`
				} `json:"error"`
			}
			if err := dec.Decode(&reply); err != nil {
				return fmt.Errorf("QMP %s: %w", c["execute"], err)
			}
			if reply.Error != nil {
				return fmt.Errorf("QMP %s: %s", c["execute"], reply.Error.Desc)
			}
			if reply.Return != nil {
				break
			}
		}
	}
	return nil
}

// plainWord matches what a POSIX shell takes literally.
var plainWord = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote renders argv as one shell command line that runs it as is.
func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if plainWord.MatchString(a) {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/progress"
	"github.com/isolab/isolab/internal/shell"
)

// VarStall names the variable that sets, in seconds, how long a guest's
// console may stay silent before WaitReady gives up on it (default
// progress.DefaultStall: a guest that still prints is still coming).
const VarStall = "LAB_VM_STALL"

// Config describes one guest.
type Config struct {
	Name      string // names the guest's files in RunDir and the guest itself, e.g. "vm1"
	RunDir    string // pid file, QMP socket, serial log, command line
	Image     Image  // from EnsureImage
	SharedDir string // absolute; the guest mounts it at the same path
	// ServerBinary is the static server binary the guest runs, on SharedDir
	// (WithServerBinary): the image holds none.
	ServerBinary string
	ServerArgs   []string // the server's arguments, without the binary
	// StatusFile, when set, is a file on SharedDir where the guest writes the
	// server's exit status once it has exited (WithStatusFile; see ExitStatus).
	StatusFile string
	// UID, when not 0, runs the server in the guest as that uid and gid.
	UID    int
	Accel  Accel  // "" means DetectAccel (LAB_ACCEL, /proc/cpuinfo, /dev/kvm)
	Binary string // "" means qemu-system-x86_64 from PATH
	// Prefix goes before QEMU's command line, e.g. nsenter --net=PATH -- to
	// start it in the lab's network namespace, or unshare --net -- for an
	// empty one. The guest is unreachable and reaches nothing either way
	// (restrict=on); the prefix keeps every process of a run in the
	// namespace the run made.
	Prefix []string
	// Stall is how long the guest may make no progress (Progress: its
	// console, or QEMU's CPU time before the first byte) while it boots
	// (WaitReady) or powers off (Stop); 0 means $LAB_VM_STALL, else
	// progress.DefaultStall.
	Stall time.Duration
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
	PIDFile     string // written by QEMU, removed when it exits
	QMPSocket   string // QEMU's control socket
	SerialLog   string // the guest's console, as written
	Console     string // the guest's console, a Unix socket to attach to
	CommandFile string // the exact QEMU command line, to re-run by hand, then QEMU's own messages

	mu      sync.Mutex
	done    chan struct{} // closed when QEMU has exited
	started bool          // this Machine started QEMU and reaps it
	startAt time.Time     // when it did
	exitErr error         // how QEMU ended, once done is closed (started ones only)
	slot    *bootSlot     // held from Start until the server is ready or QEMU exits
	// qemu is the QEMU process, once its pid file was read: QEMU removes
	// the file as it exits, before it is gone, so it is followed by pid.
	qemu *qemuProc
}

// New names the files of the guest cfg describes; it starts nothing.
func New(cfg Config) *Machine {
	p := func(suffix string) string { return filepath.Join(cfg.RunDir, cfg.Name+suffix) }
	return &Machine{
		Config:      cfg,
		PIDFile:     p(".pid"),
		QMPSocket:   p(".qmp"),
		SerialLog:   p(".serial.log"),
		Console:     p(".console"),
		CommandFile: p(".cmd"),
	}
}

// argv is the QEMU command line for m, with the accelerator chosen; debug
// adds a root shell on the console.
func (m *Machine) argv(accel Accel, debug bool) ([]string, error) {
	c := m.Config
	if c.ServerBinary == "" {
		return nil, fmt.Errorf("VM %s: no server binary (the image holds none)", c.Name)
	}
	opts := []Option{
		WithAccel(accel),
		WithKernel(c.Image.Kernel),
		WithInitrd(c.Image.Initrd),
		WithName(c.Name),
		WithSharedDir(c.SharedDir),
		WithUserNet(),
		WithServerBinary(c.ServerBinary),
		WithServer(c.ServerArgs...),
		WithSerial(m.SerialLog, m.Console),
		WithPIDFile(m.PIDFile),
		WithQMP(m.QMPSocket),
	}
	if c.StatusFile != "" {
		opts = append(opts, WithStatusFile(c.StatusFile))
	}
	if c.UID != 0 {
		opts = append(opts, WithUID(c.UID))
	}
	if c.Binary != "" {
		opts = append(opts, WithBinary(c.Binary))
	}
	if debug {
		opts = append(opts, WithDebugShell())
	}
	return Argv(append(opts, c.Options...)...)
}

// Stall is how long the guest's console may stay silent while it boots or
// powers off: Config.Stall, else $LAB_VM_STALL, else progress.DefaultStall.
func (m *Machine) Stall() time.Duration {
	if m.Config.Stall > 0 {
		return m.Config.Stall
	}
	if s, err := strconv.Atoi(os.Getenv(VarStall)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return progress.DefaultStall
}

// ErrNoStatus is wrapped by ExitStatus's error when the guest wrote no exit
// status: it was killed, or powered off, before its server exited.
var ErrNoStatus = errors.New("the guest wrote no exit status")

// ExitStatus reads the server's exit status from the configured StatusFile,
// which the guest writes once its server has exited: 128+n after signal n.
func (m *Machine) ExitStatus() (int, error) {
	if m.Config.StatusFile == "" {
		return -1, fmt.Errorf("exit status of VM %s: no status file configured", m.Config.Name)
	}
	b, err := os.ReadFile(m.Config.StatusFile)
	if errors.Is(err, os.ErrNotExist) {
		return -1, fmt.Errorf("exit status of VM %s: %w (%s is missing)", m.Config.Name, ErrNoStatus, m.Config.StatusFile)
	}
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

// SerialTail returns the last lines of the guest's console, for errors.
func (m *Machine) SerialTail() string {
	b, err := os.ReadFile(m.SerialLog)
	if err != nil {
		return fmt.Sprintf("(no serial log: %v)", err)
	}
	if len(b) == 0 {
		return "(serial log " + m.SerialLog + " is empty)"
	}
	return "serial log " + m.SerialLog + " ends:\n" + shell.Tail(string(b), 20)
}

// ConsoleSize is how much the guest has printed so far: its progress (-1
// before its console exists).
func (m *Machine) ConsoleSize() int64 {
	st, err := os.Stat(m.SerialLog)
	if err != nil {
		return -1
	}
	return st.Size()
}

// removeFiles removes the guest's pid file and sockets, keeping the serial
// log and command line for a look afterwards.
func (m *Machine) removeFiles() error {
	var errs []error
	for _, f := range []string{m.PIDFile, m.QMPSocket, m.Console} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove VM file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// StartedAt is when this Machine started QEMU; zero for a guest started by
// another process.
func (m *Machine) StartedAt() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.startAt
}

// releaseSlot gives the guest's boot slot to the next guest in the queue.
func (m *Machine) releaseSlot() {
	m.mu.Lock()
	s := m.slot
	m.slot = nil
	m.mu.Unlock()
	s.release()
}

// qemuProc is one QEMU process, named by its pid and start time (its
// methods read /proc: vm_linux.go).
type qemuProc struct {
	pid   int
	start int64
}

// Done returns a channel closed once QEMU has exited. For a guest this
// Machine started it follows QEMU's exit as its parent; for one started by
// another process, it polls the process (a zombie has exited).
func (m *Machine) Done() <-chan struct{} {
	m.PID() // the process to follow, before the lock
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done == nil {
		m.done = make(chan struct{})
		go func(done chan struct{}, q *qemuProc) {
			for q != nil && q.alive() {
				time.Sleep(50 * time.Millisecond)
			}
			close(done)
		}(m.done, m.qemu)
	}
	return m.done
}

func (m *Machine) exited() bool {
	select {
	case <-m.Done():
		return true
	default:
		return false
	}
}

// pressCtrlAltDel presses Ctrl-Alt-Del on the guest's keyboard through QEMU's
// QMP socket. The guest's lab-init turns it into SIGTERM for the server and
// powers off once the server has exited; this needs no agent, ACPI daemon or
// logind in the guest.
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

// qemuCommand is the QEMU process of a guest this Machine starts: argv,
// with its prefix.
func qemuCommand(argv []string, out *os.File) *exec.Cmd {
	// Not exec.CommandContext: the guest outlives the caller's context (and
	// the caller, for lab:up); Stop and Kill end it.
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	return cmd
}

package runenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/shell"
	"github.com/isolab/isolab/internal/vm"
	"github.com/isolab/isolab/internal/vm/guestinit"
)

// guest is a server in a QEMU guest of its own; QEMU is the process.
type guest struct {
	m        *vm.Machine
	name     string
	log      string
	argv     []string
	stopOnce sync.Once
	code     int
	out      string
	finished chan struct{} // closed once the guest's files are collected
	finOnce  sync.Once
	doneOnce sync.Once
}

func (r *Runner) vmRunDir() string { return filepath.Join(r.cfg.Dir, "vm") }

// guestBinary copies bin onto the share once per binary (vm.ShareBinary).
func (r *Runner) guestBinary(bin string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.guestBin[bin]; ok {
		return p, nil
	}
	p, err := vm.ShareBinary(r.cfg.SharedDir, bin)
	if err == nil {
		r.guestBin[bin] = p
	}
	return p, err
}

// GuestName is the host name of spec's guest: its name, with what a host
// name cannot hold as '-'.
func GuestName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '.' {
			return '-'
		}
		return r
	}, name)
}

func (r *Runner) machine(name, log string) *vm.Machine {
	return vm.New(vm.Config{
		Name:       GuestName(name),
		RunDir:     r.vmRunDir(),
		Image:      r.cfg.VMImage,
		SharedDir:  r.cfg.SharedDir,
		StatusFile: filepath.Join(r.cfg.SharedDir, "status", GuestName(name)),
		Accel:      r.cfg.Accel,
		Prefix:     netns.Enter(r.cfg.NetNS),
		Log:        r.cfg.Log,
	})
}

func (r *Runner) startGuest(ctx context.Context, spec Spec) (Server, error) {
	bin, err := r.guestBinary(spec.Bin)
	if err != nil {
		return nil, err
	}
	m := r.machine(spec.Name, spec.Log)
	m.Config.ServerBinary, m.Config.ServerArgs, m.Config.UID = bin, spec.Args, spec.UID
	m.Config.Options = append(append([]vm.Option{}, r.cfg.VMOptions...), rawQEMUArgs(spec.ExtraArgs))
	if err := os.MkdirAll(filepath.Dir(m.Config.StatusFile), 0o755); err != nil {
		return nil, err
	}
	os.Remove(m.Config.StatusFile)
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	line, _ := os.ReadFile(m.CommandFile)
	cmdline, _, _ := strings.Cut(string(line), "\n")
	if err := os.WriteFile(spec.Log, []byte("+ "+cmdline+"\nserial console: "+m.SerialLog+"\n"), 0o644); err != nil {
		m.Kill()
		return nil, err
	}
	return &guest{m: m, name: spec.Name, log: spec.Log, argv: []string{cmdline}, code: -1, finished: make(chan struct{})}, nil
}

// rawQEMUArgs passes a scenario's extra arguments to QEMU as they are.
func rawQEMUArgs(extra []string) vm.Option {
	return func(inv *vm.Invocation) error {
		inv.Args = append(inv.Args, extra...)
		return nil
	}
}

// attachGuest finds a guest from its handle.
func attachGuest(h Handle) *guest {
	m := vm.New(vm.Config{Name: GuestName(h.Name), RunDir: h.RunDir, StatusFile: h.StatusFile})
	return &guest{m: m, name: h.Name, log: h.Log, argv: h.Argv, code: -1, finished: make(chan struct{})}
}

func (g *guest) Name() string { return g.name }

// Done is closed once QEMU has exited and the guest's console and exit
// status have been collected.
func (g *guest) Done() <-chan struct{} {
	g.doneOnce.Do(func() {
		go func() {
			<-g.m.Done()
			g.finish()
		}()
	})
	return g.finished
}

// finish collects the exit status the guest wrote and its console into the
// log, and removes the guest's files from the Runner's directory.
func (g *guest) finish() {
	g.finOnce.Do(func() {
		defer close(g.finished)
		g.m.Stop(context.Background()) // QEMU is gone: this removes its files
		code, err := g.m.ExitStatus()
		serial, _ := os.ReadFile(g.m.SerialLog)
		g.code, g.out = code, serverLines(string(serial))
		if err != nil {
			g.out += fmt.Sprintf("no exit status: the guest ended before its server did (%v)\n", err)
		}
		if f, err := os.OpenFile(g.log, os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			fmt.Fprintf(f, "--- serial console %s\n%s+ exit status %d\n", g.m.SerialLog, serial, code)
			f.Close()
		}
		// The status file stays on the share for whoever else finishes the
		// guest (its handle, in another process); the share's owner removes it.
		os.Remove(g.m.SerialLog)
		os.Remove(g.m.CommandFile)
	})
}

func (g *guest) ExitCode() int {
	<-g.Done()
	return g.code
}

// Stop powers the guest off (Ctrl-Alt-Del: its server gets SIGTERM);
// grace is the guest's to decide. QEMU is killed if it lingers.
func (g *guest) Stop(time.Duration) (int, error) {
	var err error
	g.stopOnce.Do(func() { err = g.m.Stop(context.Background()) })
	<-g.Done()
	return g.code, err
}

// Kill kills QEMU at once, as a crash of the machine would end it.
func (g *guest) Kill() {
	g.m.Kill()
	<-g.Done()
}

// Output is what the server wrote to the guest's console, once the guest
// has exited.
func (g *guest) Output() string {
	if !closed(g.finished) {
		return ""
	}
	return g.out
}

func (g *guest) Handle() Handle {
	pid, _ := g.m.PID()
	return Handle{Kind: VM, Name: g.name, Argv: g.argv, Log: g.log, PID: pid, RunDir: g.m.Config.RunDir, StatusFile: g.m.Config.StatusFile}
}

func (g *guest) progress() int64 { return g.m.Progress() }

func (g *guest) stall() time.Duration { return g.m.Stall() }

func (g *guest) progressKind() string {
	return fmt.Sprintf("its console was silent (%s=%d)", vm.VarStall, int(g.m.Stall().Seconds()))
}

func (g *guest) ended() string {
	return fmt.Sprintf("stopped: QEMU exited (the server's exit status: %d)", g.ExitCode())
}

// lastLines is the console's tail: from the serial log while the guest
// runs, from the server's log (which gets the console) once it is done.
func (g *guest) lastLines() string {
	if closed(g.finished) {
		return "its log " + g.log + " ends:\n" + shell.Indent(shell.TailFile(g.log, 20))
	}
	return g.m.SerialTail()
}

func (g *guest) running() bool {
	_, ok := g.m.PID()
	return ok
}

// serverLines keeps the console's lines from the server's start on, without
// the kernel's and lab-init's own, for the checks' details.
func serverLines(serial string) string {
	_, after, found := strings.Cut(serial, guestinit.StartLine)
	if !found {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(after, "\n")[1:] {
		l = strings.TrimRight(l, "\r")
		if l == "" || strings.HasPrefix(l, "[") || strings.HasPrefix(l, guestinit.Prefix) {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

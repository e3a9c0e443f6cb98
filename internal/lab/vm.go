package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/isolab/isolab/internal/scenario"
	"github.com/isolab/isolab/internal/sock"
	"github.com/isolab/isolab/internal/vm"
)

// ErrNotIsolated is returned for a scenario with a VM outside a network
// namespace without a route out.
var ErrNotIsolated = errors.New("not in an isolated network namespace")

// Isolated reports whether this network namespace has no default route, so a
// connect to a VM's address behind QEMU's user network (10.0.2.15) fails at
// once as unreachable instead of leaving the machine.
func Isolated() bool {
	return sock.DefaultRouteIface() == ""
}

// vmBackend boots each VM server in its own QEMU guest from the cached image.
type vmBackend struct {
	lab   *Lab
	image vm.Image
}

func (l *Lab) vmRunDir() string   { return filepath.Join(l.Dir, "vm", "run") }
func (l *Lab) vmImageDir() string { return filepath.Join(l.Dir, "vm", "image") }

// detectVM checks what a VM server needs: QEMU, and a network namespace in which
// probing the guest cannot leave the machine.
func (l *Lab) detectVM(ctx context.Context, e *environments) error {
	for _, tool := range []struct{ bin, pkg string }{
		{"qemu-system-x86_64", "qemu-system-x86"}, {"mmdebstrap", "mmdebstrap"}, {"cpio", "cpio"},
	} {
		if _, err := exec.LookPath(tool.bin); err != nil {
			return fmt.Errorf("the scenario has a VM server: %s not found (try: apt-get install %s)", tool.bin, tool.pkg)
		}
	}
	if !Isolated() {
		return fmt.Errorf("the scenario has a VM server, and the client would probe its address 10.0.2.15 through this namespace's default route: %w; run the lab through scripts/netns-run (e.g. scripts/netns-run --dockerd -- go tool mage lab:verify)", ErrNotIsolated)
	}
	b := &vmBackend{lab: l}
	e.backends[scenario.EnvVM] = b
	e.prepares = append(e.prepares, b.ensureImage)
	return nil
}

// VMImage builds the VM image for this tree's recipe unless it is cached.
func (l *Lab) VMImage(ctx context.Context) error {
	return (&vmBackend{lab: l}).ensureImage(ctx)
}

// ensureImage builds the guest image when its inputs changed; a warm call only
// hashes them.
func (b *vmBackend) ensureImage(ctx context.Context) error {
	return b.lab.Step("vm image", func() error {
		script := filepath.Join(b.lab.Root, "scripts", "vm-image.sh")
		key, err := vm.ImageKey(script, b.lab.InitBin())
		if err != nil {
			return err
		}
		if Isolated() && !vm.Cached(b.lab.vmImageDir(), key) {
			return fmt.Errorf("the VM image for this tree's recipe is not built, and this network namespace cannot reach Debian's mirror: run 'go tool mage vm:image' outside scripts/netns-run first")
		}
		var log io.Writer = io.Discard
		if b.lab.Verbose {
			log = b.lab.Out
		}
		img, built, err := vm.EnsureImage(ctx, vm.ImageConfig{
			Script: script,
			Init:   b.lab.InitBin(),
			Dir:    b.lab.vmImageDir(),
			Log:    log,
		})
		if built {
			b.lab.Printf("  built the VM image in %s", img.Dir)
		}
		b.image = img
		return err
	})
}

// guestServer is the server binary VMs run, on the share: the image holds none.
func (b *vmBackend) guestServer() string { return filepath.Join(b.lab.SharedDir(), "bin", "server") }

func (b *vmBackend) machine(r *Running, log io.Writer) *vm.Machine {
	return vm.New(vm.Config{
		Name:         r.Name,
		RunDir:       b.lab.vmRunDir(),
		Image:        b.image,
		SharedDir:    b.lab.SharedDir(),
		ServerBinary: b.guestServer(),
		ServerArgs:   serverArgs(r),
		StatusFile:   filepath.Join(b.lab.SharedDir(), "status", r.Name),
		Options:      vmOptions(r.ExtraArgs),
		Log:          log,
	})
}

// vmOptions passes a scenario's extra_args to QEMU.
func vmOptions(extra []string) []vm.Option {
	if len(extra) == 0 {
		return nil
	}
	return []vm.Option{func(inv *vm.Invocation) error {
		inv.Args = append(inv.Args, extra...)
		return nil
	}}
}

func (b *vmBackend) Start(ctx context.Context, r *Running) error {
	log, err := os.OpenFile(r.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	m := b.machine(r, io.MultiWriter(log, prefixed(b.lab)))
	bin, err := os.ReadFile(b.lab.ServerBin())
	if err != nil {
		return err
	}
	for _, d := range []string{filepath.Dir(b.guestServer()), filepath.Dir(m.Config.StatusFile)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	os.Remove(m.Config.StatusFile)
	if err := os.WriteFile(b.guestServer(), bin, 0o755); err != nil {
		return err
	}
	if err := m.Start(ctx); err != nil {
		return err
	}
	r.PID, _ = m.PID()
	if line, err := os.ReadFile(m.CommandFile); err == nil {
		r.Argv = []string{strings.TrimSpace(string(line))}
	}
	fmt.Fprintf(log, "serial console log: %s\n", m.SerialLog)
	return nil
}

// Stop powers the guest off (its server gets SIGTERM and cleans up), then kills
// QEMU if it lingers, and returns the exit status the guest wrote.
func (b *vmBackend) Stop(ctx context.Context, r *Running) (int, error) {
	log, err := os.OpenFile(r.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return -1, err
	}
	defer log.Close()
	m := b.machine(r, log)
	err = m.Stop(ctx)
	if serial, rerr := os.ReadFile(m.SerialLog); rerr == nil {
		fmt.Fprintf(log, "--- serial console\n%s", serial)
	}
	code, serr := m.ExitStatus()
	os.Remove(m.Config.StatusFile)
	if err == nil && serr != nil {
		err = serr
	}
	return code, err
}

// Reap stops every guest whose pid file is still in the run directory.
func (b *vmBackend) Reap(ctx context.Context) []string {
	pids, _ := filepath.Glob(filepath.Join(b.lab.vmRunDir(), "*.pid"))
	var leaks []string
	for _, pf := range pids {
		name := strings.TrimSuffix(filepath.Base(pf), ".pid")
		m := vm.New(vm.Config{Name: name, RunDir: b.lab.vmRunDir()})
		if pid, ok := m.PID(); ok {
			leaks = append(leaks, fmt.Sprintf("VM %s (QEMU pid %d)", name, pid))
		}
		m.Stop(ctx)
	}
	return leaks
}

// prefixed shows a VM's progress lines (accelerator, power-off) on the lab's
// output only with -v.
func prefixed(l *Lab) io.Writer {
	if l.Verbose {
		return l.Out
	}
	return io.Discard
}

// ConformanceVMGuests is how many guests the conformance harness's VM column
// boots at once: two servers in each of its four cells.
const ConformanceVMGuests = 8

// VMBench boots one guest alone, then ConformanceVMGuests at once, and prints
// what each phase of each boot took; the last line is the single boot's
// ready/init ratio (see vm.Boot.Ratio). QEMU runs in a network namespace of
// its own: nothing connects to the guests.
func (l *Lab) VMBench(ctx context.Context) error {
	if err := l.Build(ctx); err != nil {
		return err
	}
	b := &vmBackend{lab: l}
	if err := b.ensureImage(ctx); err != nil {
		return err
	}
	accel, why, err := vm.DetectAccel()
	if err != nil {
		return err
	}
	l.Printf("vm:bench: accelerator %s (%s), %d cores, %d guests boot at a time (%s)", accel, why, runtime.NumCPU(), vm.BootSlots(), vm.EnvBoots)
	work, err := os.MkdirTemp("", "isolab-vm-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cfg := vm.BenchConfig{Image: b.image, Server: l.ServerBin(), WorkDir: work, Accel: accel, NewNetNS: !Isolated()}
	one, err := vm.Bench(ctx, cfg, 1)
	if err != nil {
		return err
	}
	vm.WriteBench(l.Out, "one guest", one)
	many, err := vm.Bench(ctx, cfg, ConformanceVMGuests)
	if err != nil {
		return err
	}
	vm.WriteBench(l.Out, fmt.Sprintf("%d guests at once, as the conformance VM column boots them", len(many)), many)
	l.Printf("ready/init ratio: %.2f", one[0].Ratio())
	return nil
}

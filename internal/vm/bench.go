package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// initLine is what the kernel prints when it hands over to the guest's PID 1.
const initLine = "Run /init as init process"

// Boot is what one guest's boot took, each phase from QEMU's start: the
// kernel at /init, the server's info file, and QEMU's exit after Stop.
type Boot struct {
	Name   string
	Queued time.Duration // waiting for a boot slot, before QEMU started
	Init   time.Duration // QEMU start to the kernel's "Run /init"
	Ready  time.Duration // QEMU start to the server's info file
	Off    time.Duration // Stop (Ctrl-Alt-Del) to QEMU's exit
	Status int           // the server's exit status
}

// Ratio is Ready over Init: how long the guest takes from QEMU's start to a
// ready server, against how long its kernel takes to reach /init. Under TCG
// the kernel's part varies with the machine's speed as much as the rest, so
// the ratio says what the guest's own start costs on any machine.
func (b Boot) Ratio() float64 { return b.Ready.Seconds() / b.Init.Seconds() }

// BenchConfig says what Bench boots.
type BenchConfig struct {
	Image   Image
	Server  string   // the static server binary; copied onto the share
	WorkDir string   // the share and run directories go here
	Accel   Accel    // "" means DetectAccel
	Prefix  []string // see Config.Prefix
	Log     io.Writer
}

// Bench boots n guests at once, as many of them as there are boot slots
// booting at a time, each running the server, and times each phase of each.
// Every guest is stopped and its files removed before it returns.
func Bench(ctx context.Context, cfg BenchConfig, n int) ([]Boot, error) {
	share := filepath.Join(cfg.WorkDir, "share")
	run := filepath.Join(cfg.WorkDir, "run")
	for _, d := range []string{filepath.Join(share, "info"), filepath.Join(share, "status"), run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	defer os.RemoveAll(share)
	defer os.RemoveAll(run)
	bin, err := ShareBinary(share, cfg.Server)
	if err != nil {
		return nil, err
	}
	boots := make([]Boot, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := "bench" + strconv.Itoa(i+1)
			boots[i], errs[i] = benchOne(ctx, cfg, name, share, run, bin, 31700+i)
		})
	}
	wg.Wait()
	return boots, errors.Join(errs...)
}

func benchOne(ctx context.Context, cfg BenchConfig, name, share, run, bin string, port int) (Boot, error) {
	b := Boot{Name: name, Status: -1}
	key := filepath.Join(share, name+".key")
	info := filepath.Join(share, "info", name)
	if err := os.WriteFile(key, nil, 0o644); err != nil {
		return b, err
	}
	m := New(Config{
		Name: name, RunDir: run, Image: cfg.Image, SharedDir: share, ServerBinary: bin,
		ServerArgs: []string{
			"-port", strconv.Itoa(port), "-shm-path", key, "-proj-id", "9",
			"-info-dir", filepath.Dir(info), "-info-name", name,
			"-shm-msg", name + "-shm", "-socket-msg", name + "-socket", "-accept-timeout", "10m",
		},
		StatusFile: filepath.Join(share, "status", name),
		Accel:      cfg.Accel, Prefix: cfg.Prefix, Log: cfg.Log,
	})
	called := time.Now()
	if err := m.Start(ctx); err != nil {
		return b, err
	}
	defer m.Kill()
	start := m.StartedAt()
	b.Queued = start.Sub(called)
	initSeen := make(chan time.Time, 1)
	stopWatch := make(chan struct{})
	go watchFor(m.SerialLog, initLine, initSeen, stopWatch)
	err := m.WaitReady(ctx, info)
	b.Ready = time.Since(start)
	close(stopWatch)
	if err != nil {
		return b, err
	}
	if t, ok := <-initSeen; ok {
		b.Init = t.Sub(start)
	} else {
		return b, fmt.Errorf("VM %s: no %q on its console; %s", name, initLine, m.SerialTail())
	}
	stop := time.Now()
	if err := m.Stop(ctx); err != nil {
		return b, err
	}
	b.Off = time.Since(stop)
	b.Status, err = m.ExitStatus()
	return b, err
}

// watchFor sends the time at which text first appears in the file at path,
// which grows, or closes seen when stop closes first.
func watchFor(path, text string, seen chan<- time.Time, stop <-chan struct{}) {
	defer close(seen)
	var off int64
	var carry []byte
	for {
		if f, err := os.Open(path); err == nil {
			if chunk, err := io.ReadAll(io.NewSectionReader(f, off, 1<<30)); err == nil && len(chunk) > 0 {
				off += int64(len(chunk))
				buf := append(carry, chunk...)
				if bytes.Contains(buf, []byte(text)) {
					seen <- time.Now()
					f.Close()
					return
				}
				carry = buf[max(0, len(buf)-len(text)):]
			}
			f.Close()
		}
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// WriteBench prints one line per guest, then, for a single guest, the
// ready/init ratio as the last line.
func WriteBench(w io.Writer, title string, boots []Boot) {
	fmt.Fprintf(w, "%s:\n", title)
	var last time.Duration
	for _, b := range boots {
		fmt.Fprintf(w, "  %-8s queued %6s   QEMU start -> kernel at /init %6s -> server ready %6s   power-off %6s (status %d)\n",
			b.Name, round(b.Queued), round(b.Init), round(b.Ready), round(b.Off), b.Status)
		last = max(last, b.Queued+b.Ready)
	}
	if len(boots) > 1 {
		fmt.Fprintf(w, "  all %d ready %s after the first was started (%d booting at a time)\n", len(boots), round(last), BootSlots())
	}
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }

// Report boots one guest alone, then guests at once, each running server, in
// an empty network namespace (nothing connects to them), and prints each
// phase of each boot to w; the last line is the single boot's ready/init
// ratio.
func Report(ctx context.Context, w io.Writer, img Image, server string, guests int) error {
	accel, why, err := DetectAccel()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "vm:bench: accelerator %s (%s), %d cores, %d guests boot at a time (%s)\n", accel, why, runtime.NumCPU(), BootSlots(), VarBoots)
	work, err := os.MkdirTemp("", "isolab-vm-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cfg := BenchConfig{Image: img, Server: server, WorkDir: work, Accel: accel, Prefix: []string{"unshare", "--net", "--"}}
	one, err := Bench(ctx, cfg, 1)
	if err != nil {
		return err
	}
	WriteBench(w, "one guest", one)
	many, err := Bench(ctx, cfg, guests)
	if err != nil {
		return err
	}
	WriteBench(w, fmt.Sprintf("%d guests at once, as the conformance VM column boots them", len(many)), many)
	fmt.Fprintf(w, "ready/init ratio: %.2f\n", one[0].Ratio())
	return nil
}

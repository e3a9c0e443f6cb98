package vm

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/isolab/isolab/internal/vm/guestinit"
)

// Facts of QEMU's user network that the guest's lab-init relies on.
const (
	// GuestIP is the guest's address behind QEMU's user network. Nothing on
	// the host routes to it, and nothing should try: readiness is a file.
	GuestIP = "10.0.2.15"
	// gatewayIP is QEMU's side of the user network.
	gatewayIP = "10.0.2.2"
)

// ShareTag is the 9p mount tag of the shared directory; the guest's lab-init
// mounts this tag.
const ShareTag = "labshare"

// maxCmdline is the x86 kernel's COMMAND_LINE_SIZE, the final NUL included.
// Longer command lines are cut short silently, so Argv refuses them.
const maxCmdline = 2048

// Invocation is a QEMU command line under construction: options fill it in
// and Argv lays it out.
type Invocation struct {
	Binary   string   // QEMU itself
	Accel    Accel    // KVM or TCG
	CPUs     int      // -smp
	MemoryMB int      // -m
	Kernel   string   // -kernel
	Initrd   string   // -initrd, optional
	Cmdline  []string // kernel command line words, in order
	Args     []string // devices and host-side files, in the order the options came
}

// Option is one choice about a QEMU invocation. An option that cannot work (a
// relative shared directory, say) returns an error, which Argv passes on.
type Option func(*Invocation) error

// leanBoot are the kernel command line words of the lean boot path. Under TCG
// (no KVM on the lab's machines) they took the boot from 7.8 s to 6.9 s, before
// the kernel was also unpacked ahead of time (scripts/vm-image.sh). "quiet" is
// not among them: it measured no faster, and the kernel's messages are what
// WaitReady watches to see that a guest still advances and what its errors
// show when a boot goes wrong.
var leanBoot = []string{
	"panic=-1",          // a panic reboots, -no-reboot turns that into QEMU exiting: fail fast
	"mitigations=off",   // a one-process guest has no one to shield from speculation
	"cryptomgr.notests", // the crypto self-tests run for a noticeable time under TCG
	"tsc=reliable",      // TCG's TSC looks unstable; skip the clocksource watchdog
	"no_timer_check",
	"audit=0", // nothing reads the audit log
	"apparmor=0",
	"init_on_alloc=0", // Debian zeroes every page allocated by default
	"random.trust_cpu=on",
	"8250.nr_uarts=1", // one serial port to probe, not four
	"i8042.noaux",     // keyboard only: Stop presses Ctrl-Alt-Del on it
}

// Argv lays out the QEMU command line for opts, binary first. Without options
// that say otherwise it runs qemu-system-x86_64 under TCG with 1 CPU and
// 384 MiB (a boot is one thread's work, and the root file system, unpacked
// from the initramfs, lives in memory), with no display, no default devices and -no-reboot, so that a
// guest that powers off, reboots or panics makes QEMU exit.
func Argv(opts ...Option) ([]string, error) {
	inv := Invocation{Binary: "qemu-system-x86_64", Accel: TCG, CPUs: 1, MemoryMB: 384}
	inv.Cmdline = append(inv.Cmdline, leanBoot...)
	for _, opt := range opts {
		if err := opt(&inv); err != nil {
			return nil, err
		}
	}
	if inv.Kernel == "" {
		return nil, errors.New("qemu argv: no kernel (WithKernel)")
	}
	argv := []string{inv.Binary,
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", "pc",
	}
	switch inv.Accel {
	case KVM:
		argv = append(argv, "-accel", "kvm", "-cpu", "host")
	case TCG:
		// "max" gives the guest every feature TCG emulates, SSE4.2 among them,
		// which the initrd's crc32c-intel module needs.
		argv = append(argv, "-accel", "tcg", "-cpu", "max")
	default:
		return nil, fmt.Errorf("qemu argv: unknown accelerator %q", inv.Accel)
	}
	argv = append(argv,
		"-smp", strconv.Itoa(inv.CPUs),
		"-m", strconv.Itoa(inv.MemoryMB),
		"-kernel", inv.Kernel)
	if inv.Initrd != "" {
		argv = append(argv, "-initrd", inv.Initrd)
	}
	cmdline := strings.Join(inv.Cmdline, " ")
	if len(cmdline)+1 > maxCmdline {
		return nil, fmt.Errorf("qemu argv: kernel command line is %d bytes, the kernel keeps %d (shorter server messages?)",
			len(cmdline), maxCmdline-1)
	}
	argv = append(argv, "-append", cmdline)
	return append(argv, inv.Args...), nil
}

// WithBinary runs path instead of qemu-system-x86_64.
func WithBinary(path string) Option {
	return func(inv *Invocation) error { inv.Binary = path; return nil }
}

// WithAccel picks the accelerator (see ChooseAccel).
func WithAccel(a Accel) Option {
	return func(inv *Invocation) error {
		if a != KVM && a != TCG {
			return fmt.Errorf("qemu argv: unknown accelerator %q", a)
		}
		inv.Accel = a
		return nil
	}
}

// WithCPUs gives the guest n virtual CPUs.
func WithCPUs(n int) Option {
	return func(inv *Invocation) error {
		if n < 1 {
			return fmt.Errorf("qemu argv: %d CPUs", n)
		}
		inv.CPUs = n
		return nil
	}
}

// WithMemory gives the guest mb MiB of memory.
func WithMemory(mb int) Option {
	return func(inv *Invocation) error {
		if mb < 64 {
			return fmt.Errorf("qemu argv: %d MiB of memory is too little", mb)
		}
		inv.MemoryMB = mb
		return nil
	}
}

// WithKernel boots the kernel at path directly, without a boot loader.
func WithKernel(path string) Option {
	return func(inv *Invocation) error { inv.Kernel = path; return nil }
}

// WithInitrd loads the initrd at path alongside the kernel.
func WithInitrd(path string) Option {
	return func(inv *Invocation) error { inv.Initrd = path; return nil }
}

// WithAppend adds words to the kernel command line.
func WithAppend(words ...string) Option {
	return func(inv *Invocation) error {
		for _, w := range words {
			if err := checkWord(w); err != nil {
				return fmt.Errorf("qemu argv: kernel command line word %q: %w", w, err)
			}
		}
		inv.Cmdline = append(inv.Cmdline, words...)
		return nil
	}
}

// WithSharedDir exports dir over 9p (virtio) and has the guest mount it at the
// same absolute path, so that a path the server writes names the same file on
// both sides. The guest's root writes the files; security_model=none lets
// them be owned by whoever runs QEMU.
func WithSharedDir(dir string) Option {
	return func(inv *Invocation) error {
		if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
			return fmt.Errorf("qemu argv: shared directory %q is not a clean absolute path", dir)
		}
		if err := checkWord(dir); err != nil {
			return fmt.Errorf("qemu argv: shared directory %q: %w", dir, err)
		}
		inv.Args = append(inv.Args, "-virtfs",
			"local,path="+optValue(dir)+",mount_tag="+ShareTag+",security_model=none")
		inv.Cmdline = append(inv.Cmdline, "lab.share="+dir)
		return nil
	}
}

// WithUserNet gives the guest QEMU's user-mode network with restrict=on, so
// the guest reaches nothing outside, and no port forwarded from the host. The
// guest sets its address statically (GuestIP): no DHCP wait at boot.
func WithUserNet() Option {
	return func(inv *Invocation) error {
		inv.Args = append(inv.Args, "-nic", "user,model=virtio-net-pci,restrict=on")
		inv.Cmdline = append(inv.Cmdline, "lab.ip="+GuestIP+"/24", "lab.gw="+gatewayIP)
		return nil
	}
}

// WithServer passes the server's arguments (without the binary) to the guest,
// on the kernel command line, so that the image need not change with them.
// They travel NUL-separated and base64-encoded (guestinit.EncodeArgs), so that
// messages with spaces or quotes arrive intact.
func WithServer(args ...string) Option {
	return func(inv *Invocation) error {
		enc, err := guestinit.EncodeArgs(args)
		if err != nil {
			return fmt.Errorf("qemu argv: %w", err)
		}
		inv.Cmdline = append(inv.Cmdline, "lab.args="+enc)
		return nil
	}
}

// WithName names the guest: its host name, which /etc/hosts maps to
// 127.0.1.1 as on a Debian install.
func WithName(name string) Option {
	return func(inv *Invocation) error {
		if !hostnameRE.MatchString(name) {
			return fmt.Errorf("qemu argv: guest name %q is not a host name (letters, digits, '-', at most 63)", name)
		}
		inv.Cmdline = append(inv.Cmdline, "lab.name="+name)
		return nil
	}
}

// hostnameRE matches one label of a host name.
var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// WithUID has the guest run its server as uid (and gid) uid instead of root.
func WithUID(uid int) Option {
	return func(inv *Invocation) error {
		if uid < 0 {
			return fmt.Errorf("qemu argv: uid %d", uid)
		}
		inv.Cmdline = append(inv.Cmdline, "lab.uid="+strconv.Itoa(uid))
		return nil
	}
}

// WithDebugShell has the guest start a root shell on its console as well.
func WithDebugShell() Option {
	return func(inv *Invocation) error {
		inv.Cmdline = append(inv.Cmdline, "lab.debug=1")
		return nil
	}
}

// WithServerBinary has the guest run the static server binary at path, which
// is absolute and on the shared directory (see WithSharedDir), mounted at the
// same path in the guest. The image holds no server, so that one image serves
// every version of isolab's and any other implementation's.
func WithServerBinary(path string) Option {
	return func(inv *Invocation) error {
		if err := sharePath(path); err != nil {
			return fmt.Errorf("qemu argv: server binary: %w", err)
		}
		inv.Cmdline = append(inv.Cmdline, "lab.bin="+path)
		return nil
	}
}

// WithStatusFile has the guest write the server's exit status (a decimal
// number, 128+n after signal n) to path once the server has exited, before it
// powers off. path is absolute and on the shared directory.
func WithStatusFile(path string) Option {
	return func(inv *Invocation) error {
		if err := sharePath(path); err != nil {
			return fmt.Errorf("qemu argv: status file: %w", err)
		}
		inv.Cmdline = append(inv.Cmdline, "lab.status="+path)
		return nil
	}
}

// sharePath checks that path can name a file on the share from the kernel
// command line: clean, absolute, one word.
func sharePath(path string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return fmt.Errorf("%q is not a clean absolute path", path)
	}
	if err := checkWord(path); err != nil {
		return fmt.Errorf("%q: %w", path, err)
	}
	return nil
}

// WithSerial makes the guest's serial port its console, written to logPath
// and offered on the Unix socket socketPath, where a terminal can attach at
// any time (socat -,raw,echo=0 UNIX-CONNECT:socketPath). With no one
// attached, output goes to the log alone and the guest never waits.
func WithSerial(logPath, socketPath string) Option {
	return func(inv *Invocation) error {
		inv.Args = append(inv.Args,
			"-chardev", "socket,id=serial0,path="+optValue(socketPath)+",server=on,wait=off,logfile="+optValue(logPath),
			"-serial", "chardev:serial0")
		inv.Cmdline = append(inv.Cmdline, "console=ttyS0")
		return nil
	}
}

// WithPIDFile has QEMU write its pid to path (and remove it when it exits).
func WithPIDFile(path string) Option {
	return func(inv *Invocation) error {
		inv.Args = append(inv.Args, "-pidfile", path)
		return nil
	}
}

// WithQMP opens QEMU's machine protocol on a Unix socket at path: Stop uses it
// to press Ctrl-Alt-Del.
func WithQMP(path string) Option {
	return func(inv *Invocation) error {
		inv.Args = append(inv.Args,
			"-chardev", "socket,id=qmp,path="+optValue(path)+",server=on,wait=off",
			"-mon", "chardev=qmp,mode=control")
		return nil
	}
}

// optValue escapes s for a QEMU option value, where a comma ends the value
// unless doubled.
func optValue(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// checkWord rejects what cannot be one word of the kernel command line as the
// kernel and lab-init split it: spaces, quotes and control characters.
func checkWord(w string) error {
	if w == "" {
		return errors.New("empty")
	}
	for _, r := range w {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '"' {
			return fmt.Errorf("holds %q", r)
		}
	}
	return nil
}

package vm

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/vm/guestinit"
)

// flagValue returns the argument after the first flag in argv.
func flagValue(argv []string, flag string) string {
	if i := slices.Index(argv, flag); i >= 0 && i+1 < len(argv) {
		return argv[i+1]
	}
	return ""
}

// hasSeq reports whether seq appears in argv as consecutive arguments.
func hasSeq(argv []string, seq ...string) bool {
	for i := 0; i+len(seq) <= len(argv); i++ {
		if slices.Equal(argv[i:i+len(seq)], seq) {
			return true
		}
	}
	return false
}

func TestArgvMinimal(t *testing.T) {
	got, err := Argv(WithKernel("/img/vmlinux"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"qemu-system-x86_64",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", "pc", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "384",
		"-kernel", "/img/vmlinux",
		"-append", strings.Join(leanBoot, " "),
	}
	if !slices.Equal(got, want) {
		t.Errorf("Argv(WithKernel) =\n%q\nwant\n%q", got, want)
	}
}

func TestArgv(t *testing.T) {
	kernel := WithKernel("/k")
	tests := []struct {
		name       string
		opts       []Option
		seqs       [][]string // must appear in argv, each as consecutive arguments
		cmdline    []string   // words the kernel command line must hold
		notInArgv  []string   // substrings no argument may contain
		notCmdline []string
	}{
		{
			name: "tcg",
			opts: []Option{kernel, WithAccel(TCG)},
			seqs: [][]string{{"-accel", "tcg", "-cpu", "max"}},
		},
		{
			name:      "kvm",
			opts:      []Option{kernel, WithAccel(KVM)},
			seqs:      [][]string{{"-accel", "kvm", "-cpu", "host"}},
			notInArgv: []string{"tcg"},
		},
		{
			name: "binary, cpus, memory, initrd",
			opts: []Option{kernel, WithBinary("/opt/qemu"), WithCPUs(1), WithMemory(256), WithInitrd("/i")},
			seqs: [][]string{{"/opt/qemu"}, {"-smp", "1", "-m", "256"}, {"-kernel", "/k", "-initrd", "/i"}},
		},
		{
			name:    "9p share at the same path",
			opts:    []Option{kernel, WithSharedDir("/srv/isolab/lab/shared")},
			seqs:    [][]string{{"-virtfs", "local,path=/srv/isolab/lab/shared,mount_tag=labshare,security_model=none"}},
			cmdline: []string{"lab.share=/srv/isolab/lab/shared"},
		},
		{
			name:    "comma in a path is doubled for QEMU, not for the kernel",
			opts:    []Option{kernel, WithSharedDir("/srv/a,b")},
			seqs:    [][]string{{"-virtfs", "local,path=/srv/a,,b,mount_tag=labshare,security_model=none"}},
			cmdline: []string{"lab.share=/srv/a,b"},
		},
		{
			name:      "user network, restricted, nothing forwarded, static address",
			opts:      []Option{kernel, WithUserNet()},
			seqs:      [][]string{{"-nic", "user,model=virtio-net-pci,restrict=on"}},
			cmdline:   []string{"lab.ip=10.0.2.15/24", "lab.gw=10.0.2.2"},
			notInArgv: []string{"hostfwd", "guestfwd", "-netdev", "tap"},
		},
		{
			name: "serial console, pid file, QMP",
			opts: []Option{kernel, WithSerial("/r/s.log", "/r/c"), WithPIDFile("/r/p"), WithQMP("/r/q")},
			seqs: [][]string{
				{"-chardev", "socket,id=serial0,path=/r/c,server=on,wait=off,logfile=/r/s.log", "-serial", "chardev:serial0"},
				{"-pidfile", "/r/p"},
				{"-chardev", "socket,id=qmp,path=/r/q,server=on,wait=off", "-mon", "chardev=qmp,mode=control"}},
			notInArgv: []string{"-daemonize"},
			cmdline:   []string{"console=ttyS0"},
		},
		{
			name:    "server binary and status file on the share",
			opts:    []Option{kernel, WithSharedDir("/srv/share"), WithServerBinary("/srv/share/bin/theirs"), WithStatusFile("/srv/share/status/vm1")},
			cmdline: []string{"lab.share=/srv/share", "lab.bin=/srv/share/bin/theirs", "lab.status=/srv/share/status/vm1"},
		},
		{
			name:       "no status file, root, no shell",
			opts:       []Option{kernel, WithSharedDir("/srv/share")},
			notCmdline: []string{"lab.status=", "lab.uid=", "lab.debug="},
		},
		{
			name:    "name, uid, debug shell",
			opts:    []Option{kernel, WithName("vm-1"), WithUID(60001), WithDebugShell()},
			cmdline: []string{"lab.name=vm-1", "lab.uid=60001", "lab.debug=1"},
		},
		{
			name:       "lean boot, no systemd, extra words last",
			opts:       []Option{kernel, WithAppend("loglevel=4")},
			cmdline:    []string{"panic=-1", "mitigations=off", "loglevel=4"},
			notCmdline: []string{"systemd.", "root="},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, err := Argv(tt.opts...)
			if err != nil {
				t.Fatalf("Argv() error: %v", err)
			}
			for _, seq := range tt.seqs {
				if !hasSeq(argv, seq...) {
					t.Errorf("Argv() = %q, want it to hold %q", argv, seq)
				}
			}
			words := strings.Fields(flagValue(argv, "-append"))
			for _, w := range tt.cmdline {
				if !slices.Contains(words, w) {
					t.Errorf("kernel command line %q, want it to hold %q", words, w)
				}
			}
			for _, w := range words {
				for _, p := range tt.notCmdline {
					if strings.HasPrefix(w, p) {
						t.Errorf("kernel command line %q holds %q, want no %q", words, w, p)
					}
				}
			}
			for _, s := range tt.notInArgv {
				for _, a := range argv {
					if strings.Contains(a, s) {
						t.Errorf("Argv() holds %q, want no %q", a, s)
					}
				}
			}
		})
	}
}

func TestArgvServerArgs(t *testing.T) {
	args := []string{"-port", "5000", "-shm-msg", `hello "shm" world`, "-socket-msg", "it's\ttabbed", "-info-name", ""}
	argv, err := Argv(WithKernel("/k"), WithServer(args...))
	if err != nil {
		t.Fatal(err)
	}
	var enc string
	for _, w := range strings.Fields(flagValue(argv, "-append")) {
		if v, ok := strings.CutPrefix(w, "lab.args="); ok {
			enc = v
		}
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("lab.args=%q does not decode: %v", enc, err)
	}
	got, err := guestinit.DecodeArgs(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || raw[len(raw)-1] != 0 {
		t.Errorf("lab.args=%q does not end in a NUL", raw)
	}
	if !slices.Equal(got, args) {
		t.Errorf("lab.args decodes to %q, want %q", got, args)
	}
}

func TestArgvErrors(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"no kernel", nil, "no kernel"},
		{"relative share", []Option{WithKernel("/k"), WithSharedDir("lab/shared")}, "not a clean absolute path"},
		{"unclean share", []Option{WithKernel("/k"), WithSharedDir("/srv/lab/../shared")}, "not a clean absolute path"},
		{"space in share", []Option{WithKernel("/k"), WithSharedDir("/srv/my lab")}, "holds ' '"},
		{"quote in share", []Option{WithKernel("/k"), WithSharedDir(`/srv/"lab"`)}, "holds '\"'"},
		{"unknown accel", []Option{WithKernel("/k"), WithAccel("hvf")}, "unknown accelerator"},
		{"zero cpus", []Option{WithKernel("/k"), WithCPUs(0)}, "0 CPUs"},
		{"NUL in server arg", []Option{WithKernel("/k"), WithServer("a\x00b")}, "NUL"},
		{"space in appended word", []Option{WithKernel("/k"), WithAppend("a b")}, "holds ' '"},
		{"relative server binary", []Option{WithKernel("/k"), WithServerBinary("bin/server")}, "server binary: \"bin/server\" is not a clean absolute path"},
		{"space in server binary", []Option{WithKernel("/k"), WithServerBinary("/srv/my server")}, "holds ' '"},
		{"unclean status file", []Option{WithKernel("/k"), WithStatusFile("/srv/../status")}, "status file: \"/srv/../status\" is not a clean absolute path"},
		{"empty status file", []Option{WithKernel("/k"), WithStatusFile("")}, "status file"},
		{"command line too long", []Option{WithKernel("/k"), WithServer(strings.Repeat("m", 2000))}, "kernel keeps 2047"},
		{"name with a dot", []Option{WithKernel("/k"), WithName("vm.1")}, "not a host name"},
		{"name too long", []Option{WithKernel("/k"), WithName(strings.Repeat("v", 64))}, "not a host name"},
		{"negative uid", []Option{WithKernel("/k"), WithUID(-1)}, "uid -1"},
	}
	for _, tt := range tests {
		_, err := Argv(tt.opts...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Argv() error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestMachineArgv(t *testing.T) {
	m := New(Config{
		Name: "vm1", RunDir: "/lab/vm/run",
		Image:        ImageAt("/lab/vm/image"),
		SharedDir:    "/lab/shared",
		ServerBinary: "/lab/shared/bin/server",
		ServerArgs:   []string{"-port", "5000"},
		StatusFile:   "/lab/shared/status/vm1",
		Options:      []Option{WithMemory(256)},
	})
	argv, err := m.argv(TCG, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range [][]string{
		{"-kernel", "/lab/vm/image/vmlinux", "-initrd", "/lab/vm/image/initrd.img"},
		{"-virtfs", "local,path=/lab/shared,mount_tag=labshare,security_model=none"},
		{"-nic", "user,model=virtio-net-pci,restrict=on"},
		{"-chardev", "socket,id=serial0,path=/lab/vm/run/vm1.console,server=on,wait=off,logfile=/lab/vm/run/vm1.serial.log"},
		{"-pidfile", "/lab/vm/run/vm1.pid"},
		{"-chardev", "socket,id=qmp,path=/lab/vm/run/vm1.qmp,server=on,wait=off"},
		{"-no-reboot"}, {"-smp", "1", "-m", "256"},
	} {
		if !hasSeq(argv, seq...) {
			t.Errorf("Machine argv = %q, want it to hold %q", argv, seq)
		}
	}
	words := strings.Fields(flagValue(argv, "-append"))
	for _, w := range []string{"lab.name=vm1", "lab.bin=/lab/shared/bin/server", "lab.status=/lab/shared/status/vm1", "lab.share=/lab/shared"} {
		if !slices.Contains(words, w) {
			t.Errorf("Machine argv: kernel command line %q, want it to hold %q", words, w)
		}
	}
	for _, w := range words {
		if strings.HasPrefix(w, "lab.debug=") || strings.HasPrefix(w, "lab.uid=") {
			t.Errorf("Machine argv without debug or UID: kernel command line holds %q", w)
		}
	}
	for _, a := range argv {
		if strings.Contains(a, "-drive") || strings.Contains(a, "daemonize") {
			t.Errorf("Machine argv holds %q: the guest has no disk and QEMU stays the lab's child", a)
		}
	}
	m.Config.UID = 60001
	argv, _ = m.argv(TCG, true)
	if s := flagValue(argv, "-append"); !strings.Contains(s, " lab.uid=60001") || !strings.Contains(s, " lab.debug=1") {
		t.Errorf("Machine argv with UID and debug: kernel command line %q, want lab.uid=60001 and lab.debug=1", s)
	}
}

func TestMachineArgvNeedsServerBinary(t *testing.T) {
	m := New(Config{Name: "vm1", RunDir: "/lab/vm/run", Image: ImageAt("/lab/vm/image"), SharedDir: "/lab/shared"})
	if _, err := m.argv(TCG, false); err == nil || !strings.Contains(err.Error(), "no server binary") {
		t.Errorf("Machine argv without a server binary: error %v, want one saying the image holds none", err)
	}
}

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content string // "" means no file
		want    int
		wantErr string
	}{
		{"0\n", 0, ""},
		{"143\n", 143, ""},
		{"", -1, "wrote no exit status"},
		{"garbage", -1, "holds"},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, fmt.Sprint(i))
		if tt.content != "" {
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m := New(Config{Name: "vm1", StatusFile: path})
		got, err := m.ExitStatus()
		if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ExitStatus() with %q = %d, %v, want %d and an error holding %q", tt.content, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := New(Config{Name: "vm1"}).ExitStatus(); err == nil {
		t.Error("ExitStatus() without a StatusFile = nil error, want one")
	}
}

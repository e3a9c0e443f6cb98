package guestinit

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	args := []string{"-port", "5000", "-shm-msg", `hello "shm" world`, "-socket-msg", "it's\ttabbed", "-info-name", ""}
	enc, err := EncodeArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	line := "panic=-1 console=ttyS0 lab.name=vm1 lab.share=/srv/lab/shared lab.ip=10.0.2.15/24 lab.gw=10.0.2.2 " +
		"lab.bin=/srv/lab/shared/bin/server lab.args=" + enc + " lab.status=/srv/lab/shared/status/vm1 lab.uid=60001 lab.debug=1"
	got, err := ParseCmdline(line)
	if err != nil {
		t.Fatalf("ParseCmdline(%q): %v", line, err)
	}
	want := Config{
		Name: "vm1", Share: "/srv/lab/shared",
		Addr: netip.MustParsePrefix("10.0.2.15/24"), GW: netip.MustParseAddr("10.0.2.2"),
		Bin: "/srv/lab/shared/bin/server", Args: args,
		Status: "/srv/lab/shared/status/vm1", UID: 60001, Debug: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseCmdline(%q) =\n%+v\nwant\n%+v", line, got, want)
	}
}

func TestParseCmdlineDefaults(t *testing.T) {
	enc, _ := EncodeArgs(nil)
	got, err := ParseCmdline("lab.share=/s lab.bin=/s/server lab.args=" + enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "isolab-vm" || got.UID != -1 || got.Debug || got.Addr.IsValid() || len(got.Args) != 0 {
		t.Errorf("ParseCmdline with only the required words = %+v, want name isolab-vm, root, no debug, no address, no args", got)
	}
}

func TestParseCmdlineErrors(t *testing.T) {
	enc, _ := EncodeArgs([]string{"-q"})
	base := "lab.share=/s lab.bin=/s/server lab.args=" + enc
	tests := []struct{ line, want string }{
		{"lab.bin=/s/server lab.args=" + enc, "lab.share= missing"},
		{"lab.share=/s lab.args=" + enc, "lab.bin= missing"},
		{"lab.share=/s lab.bin=/s/server", "lab.args= missing"},
		{base + " lab.ip=10.0.2.15", "lab.ip"},
		{base + " lab.ip=fe80::1/64", "lab.ip"},
		{base + " lab.gw=gateway", "lab.gw"},
		{base + " lab.uid=-3", "lab.uid"},
		{base + " lab.args=!!!", "lab.args"},
		{"lab.share=s lab.bin=/s/server lab.args=" + enc, "not an absolute path"},
	}
	for _, tt := range tests {
		if _, err := ParseCmdline(tt.line); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseCmdline(%q) error = %v, want one containing %q", tt.line, err, tt.want)
		}
	}
}

func TestArgsRoundTrip(t *testing.T) {
	for _, args := range [][]string{{}, {""}, {"a", "", "b c"}, {"ünï", "'\"$`"}} {
		enc, err := EncodeArgs(args)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeArgs(enc)
		if err != nil || !slices.Equal(got, args) {
			t.Errorf("DecodeArgs(EncodeArgs(%q)) = %q, %v", args, got, err)
		}
	}
	if _, err := EncodeArgs([]string{"a\x00b"}); err == nil {
		t.Error("EncodeArgs with a NUL byte: no error")
	}
}

func TestHosts(t *testing.T) {
	h := Hosts("s1")
	for _, line := range []string{"127.0.0.1\tlocalhost", "127.0.1.1\ts1"} {
		if !strings.Contains(h, line+"\n") {
			t.Errorf("Hosts(%q) = %q, want a line %q", "s1", h, line)
		}
	}
}

func TestLoadOrder(t *testing.T) {
	dep := `kernel/fs/netfs/netfs.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/9p/9p.ko: kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko kernel/net/9p/9pnet.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko kernel/net/9p/9pnet.ko
`
	got, err := LoadOrder(dep, []string{"virtio-pci", "virtio_net", "9pnet_virtio", "9p"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 13 {
		t.Errorf("LoadOrder = %d files %q, want the 13 distinct ones", len(got), got)
	}
	pos := map[string]int{}
	for i, f := range got {
		if _, dup := pos[f]; dup {
			t.Errorf("LoadOrder lists %s twice", f)
		}
		pos[f] = i
	}
	for _, l := range strings.Split(strings.TrimSpace(dep), "\n") {
		file, needs, _ := strings.Cut(l, ":")
		for _, d := range strings.Fields(needs) {
			if pos[d] >= pos[file] {
				t.Errorf("LoadOrder loads %s (at %d) before its dependency %s (at %d)", file, pos[file], d, pos[d])
			}
		}
	}
	if _, err := LoadOrder(dep, []string{"ext4"}); err == nil || !strings.Contains(err.Error(), "ext4") {
		t.Errorf("LoadOrder(ext4) error = %v, want one naming ext4", err)
	}
	if _, err := LoadOrder("a.ko: b.ko\nb.ko: a.ko\n", []string{"a"}); err == nil {
		t.Error("LoadOrder with a cycle: no error")
	}
}

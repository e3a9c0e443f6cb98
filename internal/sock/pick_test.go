package sock

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPickIPv4(t *testing.T) {
	a := netip.MustParseAddr
	lo := Iface{Name: "lo", Up: true, Loop: true, Addr: []netip.Addr{a("127.0.0.1"), a("::1")}}
	eth0 := Iface{Name: "eth0", Up: true, Addr: []netip.Addr{a("fe80::1"), a("192.168.1.5"), a("192.168.1.6")}}
	wlan := Iface{Name: "wlan0", Up: true, Addr: []netip.Addr{a("10.1.2.3")}}
	down := Iface{Name: "eth1", Up: false, Addr: []netip.Addr{a("172.16.0.9")}}
	v6only := Iface{Name: "v6", Up: true, Addr: []netip.Addr{a("2001:db8::1")}}
	tests := []struct {
		name   string
		route  string
		ifaces []Iface
		want   string
	}{
		{"default route interface", "wlan0", []Iface{lo, eth0, wlan}, "10.1.2.3"},
		{"default route interface even if listed last", "eth0", []Iface{lo, wlan, eth0}, "192.168.1.5"},
		{"no default route: first up non-loopback", "", []Iface{lo, down, eth0, wlan}, "192.168.1.5"},
		{"route names an interface without IPv4", "v6", []Iface{lo, v6only, wlan}, "10.1.2.3"},
		{"route names a missing interface", "ppp0", []Iface{lo, wlan}, "10.1.2.3"},
		{"only down interfaces", "", []Iface{lo, down}, "127.0.0.1"},
		{"loopback only", "", []Iface{lo}, "127.0.0.1"},
		{"nothing", "", nil, "127.0.0.1"},
	}
	for _, tt := range tests {
		if got := PickIPv4(tt.route, tt.ifaces); got != a(tt.want) {
			t.Errorf("%s: PickIPv4(%q, ...) = %v, want %v", tt.name, tt.route, got, tt.want)
		}
	}
}

func TestParseDefaultRoute(t *testing.T) {
	const header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	tests := []struct {
		name, in, want string
	}{
		{"default via eth0", header +
			"eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
			"eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n", "eth0"},
		{"default listed second", header +
			"docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n" +
			"wlan0\t00000000\t0100000A\t0003\t0\t0\t600\t00000000\t0\t0\t0\n", "wlan0"},
		{"destination 0 with a mask is not default", header +
			"eth0\t00000000\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n", ""},
		{"no routes", header, ""},
		{"empty", "", ""},
		{"short line", header + "eth0\t00000000\n", ""},
	}
	for _, tt := range tests {
		if got := parseDefaultRoute(strings.NewReader(tt.in)); got != tt.want {
			t.Errorf("%s: parseDefaultRoute(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestDefaultIPv4(t *testing.T) {
	if got := DefaultIPv4(); !got.Is4() {
		t.Errorf("DefaultIPv4() = %v, want an IPv4 address", got)
	}
}

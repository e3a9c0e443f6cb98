package netns

import (
	"strings"
	"testing"
)

func TestDefaultRoute4(t *testing.T) {
	table := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	if got := defaultRoute4(strings.NewReader(table)); got != "eth0" {
		t.Errorf("defaultRoute4 = %q, want eth0", got)
	}
	noDefault := "Iface\tDestination\tGateway\n" + "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
	if got := defaultRoute4(strings.NewReader(noDefault)); got != "" {
		t.Errorf("defaultRoute4 without a default route = %q", got)
	}
}

func TestDefaultRoute6(t *testing.T) {
	zero := strings.Repeat("0", 32)
	usable := zero + " 00 " + zero + " 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n"
	reject := zero + " 00 " + zero + " 00 " + zero + " ffffffff 00000001 00000000 00200200 lo\n"
	if got := defaultRoute6(strings.NewReader(usable)); got != "eth0" {
		t.Errorf("defaultRoute6 = %q, want eth0", got)
	}
	if got := defaultRoute6(strings.NewReader(reject)); got != "" {
		t.Errorf("defaultRoute6 with only the reject route = %q", got)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"isolab", "isolab-3f2a91c0", "t.1_x"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a/b", "a b", strings.Repeat("n", 33)} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) = nil, want an error", bad)
		}
	}
}

func TestEnter(t *testing.T) {
	if got := Enter(""); got != nil {
		t.Errorf("Enter(\"\") = %q, want nothing", got)
	}
	if got := strings.Join(Enter("/run/netns/lab"), " "); got != "nsenter --net=/run/netns/lab --" {
		t.Errorf("Enter = %q", got)
	}
}

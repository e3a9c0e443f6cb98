package guestinit

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Config is what the kernel command line tells the guest, word by word
// (internal/vm writes these words):
//
//	lab.name=NAME      the guest's host name: the server's name
//	lab.share=PATH     where to mount the shared directory (the host's path)
//	lab.ip=CIDR        static address on QEMU's user network (10.0.2.15/24)
//	lab.gw=ADDR        its gateway (10.0.2.2)
//	lab.bin=PATH       the static server binary to run, on the share
//	lab.args=BASE64    its arguments, NUL-separated, base64-encoded so that
//	                   messages with spaces or quotes survive the trip
//	lab.status=PATH    a file on the share that gets the server's exit status
//	                   (128+n after signal n) once it has exited
//	lab.uid=N          run the server as uid and gid N instead of root
//	lab.debug=1        also start a root shell on the console
type Config struct {
	Name   string
	Share  string
	Addr   netip.Prefix
	GW     netip.Addr
	Bin    string
	Args   []string
	Status string
	UID    int // -1: root
	Debug  bool
}

// ParseCmdline reads the lab's words from the kernel command line; other
// words are the kernel's and are left alone. lab.share, lab.bin and lab.args
// are required: without them there is nothing to run.
func ParseCmdline(cmdline string) (Config, error) {
	c := Config{UID: -1}
	var err error
	seen := map[string]bool{}
	for _, w := range strings.Fields(cmdline) {
		key, val, ok := strings.Cut(w, "=")
		if !ok || !strings.HasPrefix(key, "lab.") {
			continue
		}
		seen[key] = true
		switch key {
		case "lab.name":
			c.Name = val
		case "lab.share":
			c.Share = val
		case "lab.ip":
			if c.Addr, err = netip.ParsePrefix(val); err != nil || !c.Addr.Addr().Is4() {
				return c, fmt.Errorf("lab.ip=%q: want an IPv4 address with a prefix length", val)
			}
		case "lab.gw":
			if c.GW, err = netip.ParseAddr(val); err != nil || !c.GW.Is4() {
				return c, fmt.Errorf("lab.gw=%q: want an IPv4 address", val)
			}
		case "lab.bin":
			c.Bin = val
		case "lab.args":
			if c.Args, err = DecodeArgs(val); err != nil {
				return c, fmt.Errorf("lab.args: %w", err)
			}
		case "lab.status":
			c.Status = val
		case "lab.uid":
			if c.UID, err = strconv.Atoi(val); err != nil || c.UID < 0 {
				return c, fmt.Errorf("lab.uid=%q: want a number", val)
			}
		case "lab.debug":
			c.Debug = val == "1"
		}
	}
	for _, k := range []string{"lab.share", "lab.bin", "lab.args"} {
		if !seen[k] {
			return c, fmt.Errorf("%s= missing from the kernel command line", k)
		}
	}
	for _, p := range []string{c.Share, c.Bin, c.Status} {
		if p != "" && !strings.HasPrefix(p, "/") {
			return c, fmt.Errorf("%q is not an absolute path", p)
		}
	}
	if c.Name == "" {
		c.Name = "isolab-vm"
	}
	return c, nil
}

// EncodeArgs is the lab.args= value of args: each argument followed by a
// NUL, base64-encoded. An argument cannot hold a NUL.
func EncodeArgs(args []string) (string, error) {
	var b strings.Builder
	for _, a := range args {
		if strings.ContainsRune(a, 0) {
			return "", fmt.Errorf("server argument %q holds a NUL byte", a)
		}
		b.WriteString(a)
		b.WriteByte(0)
	}
	return base64.StdEncoding.EncodeToString([]byte(b.String())), nil
}

// DecodeArgs undoes EncodeArgs.
func DecodeArgs(s string) ([]string, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return []string{}, nil
	}
	if raw[len(raw)-1] != 0 {
		return nil, errors.New("the last argument is not NUL-terminated")
	}
	return strings.Split(string(raw[:len(raw)-1]), "\x00"), nil
}

// Hosts is the guest's /etc/hosts, as Debian's installer writes it: the host
// name on 127.0.1.1, so that a program that looks its own name up finds an
// address it can bind.
func Hosts(name string) string {
	return "127.0.0.1\tlocalhost\n" +
		"127.0.1.1\t" + name + "\n\n" +
		"# The following lines are desirable for IPv6 capable hosts\n" +
		"::1     localhost ip6-localhost ip6-loopback\n" +
		"ff02::1 ip6-allnodes\n" +
		"ff02::2 ip6-allrouters\n"
}

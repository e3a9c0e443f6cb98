package guestinit

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// configureNetwork brings up lo and the guest's one other interface with the
// static address of QEMU's user network and a default route through its
// gateway, over rtnetlink: no DHCP, no ip(8). The interface keeps the
// kernel's name (eth0), as no udev renames it, but is found, not assumed.
func configureNetwork(cfg Config) error {
	nl, err := newRtnl()
	if err != nil {
		return err
	}
	defer unix.Close(nl.fd)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return err
	}
	if err := nl.linkUp(lo.Index); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	if !cfg.Addr.IsValid() {
		return nil
	}
	dev, err := waitForInterface(5 * time.Second)
	if err != nil {
		return err
	}
	if err := nl.addAddr(dev.Index, cfg.Addr.Addr().As4(), cfg.Addr.Bits()); err != nil {
		return fmt.Errorf("address %s on %s: %w", cfg.Addr, dev.Name, err)
	}
	if err := nl.linkUp(dev.Index); err != nil {
		return fmt.Errorf("bring up %s: %w", dev.Name, err)
	}
	if cfg.GW.IsValid() {
		if err := nl.addDefaultRoute(dev.Index, cfg.GW.As4()); err != nil {
			return fmt.Errorf("default route via %s: %w", cfg.GW, err)
		}
	}
	return nil
}

// waitForInterface returns the first interface that is not loopback, waiting
// while the network driver probes its device.
func waitForInterface(d time.Duration) (net.Interface, error) {
	for deadline := time.Now().Add(d); ; time.Sleep(5 * time.Millisecond) {
		ifs, err := net.Interfaces()
		if err != nil {
			return net.Interface{}, err
		}
		for _, i := range ifs {
			if i.Flags&net.FlagLoopback == 0 {
				return i, nil
			}
		}
		if time.Now().After(deadline) {
			return net.Interface{}, fmt.Errorf("no network interface after %s (is virtio_net loaded?)", d)
		}
	}
}

// rtnl is a route netlink socket that sends one request at a time and waits
// for its acknowledgement.
type rtnl struct {
	fd  int
	seq uint32
}

func newRtnl() (*rtnl, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, os.NewSyscallError("socket AF_NETLINK", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind AF_NETLINK", err)
	}
	return &rtnl{fd: fd}, nil
}

// attr is one rtnetlink attribute, padded to 4 bytes.
func attr(typ uint16, data []byte) []byte {
	b := make([]byte, unix.SizeofRtAttr+len(data), (unix.SizeofRtAttr+len(data)+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[unix.SizeofRtAttr:], data)
	return b[:cap(b)]
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// do sends a request of type typ with body and waits for the kernel's
// acknowledgement.
func (r *rtnl) do(typ uint16, flags uint16, body []byte) error {
	r.seq++
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	binary.NativeEndian.PutUint32(msg[8:], r.seq)
	msg = append(msg, body...)
	if err := unix.Sendto(r.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto netlink", err)
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(r.fd, buf, 0)
		if err != nil {
			return os.NewSyscallError("recvfrom netlink", err)
		}
		msgs, err := syscallParseNetlink(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != r.seq || m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
				return unix.Errno(-errno)
			}
			return nil
		}
	}
}

func (r *rtnl) linkUp(index int) error {
	var b []byte
	b = append(b, unix.AF_UNSPEC, 0, 0, 0) // family, pad, type
	b = binary.NativeEndian.AppendUint32(b, uint32(index))
	b = binary.NativeEndian.AppendUint32(b, unix.IFF_UP) // flags
	b = binary.NativeEndian.AppendUint32(b, unix.IFF_UP) // change
	return r.do(unix.RTM_NEWLINK, 0, b)
}

func (r *rtnl) addAddr(index int, ip [4]byte, bits int) error {
	b := []byte{unix.AF_INET, byte(bits), 0, unix.RT_SCOPE_UNIVERSE}
	b = binary.NativeEndian.AppendUint32(b, uint32(index))
	b = append(b, attr(unix.IFA_LOCAL, ip[:])...)
	b = append(b, attr(unix.IFA_ADDRESS, ip[:])...)
	return r.do(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, b)
}

func (r *rtnl) addDefaultRoute(index int, gw [4]byte) error {
	b := []byte{unix.AF_INET, 0, 0, 0, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST}
	b = binary.NativeEndian.AppendUint32(b, 0) // flags
	b = append(b, attr(unix.RTA_GATEWAY, gw[:])...)
	b = append(b, attr(unix.RTA_OIF, u32(uint32(index)))...)
	return r.do(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, b)
}

// syscallParseNetlink splits a netlink datagram into its messages.
func syscallParseNetlink(b []byte) ([]syscall.NetlinkMessage, error) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, fmt.Errorf("parse netlink reply: %w", err)
	}
	return msgs, nil
}

// Package vm runs isolab's server in a QEMU guest: it builds the Debian image
// (scripts/vm-image.sh, cached by a key over its inputs), lays out the QEMU
// command line as data (options turned into an argv by the pure function Argv),
// and starts, waits for and stops guests that outlive the process that started
// them, so that lab:up can start one and lab:down stop it.
//
// The guest boots the image's own kernel and initrd straight from QEMU, mounts
// the lab's shared directory over 9p at the host's path, and runs the server
// with the arguments it finds on the kernel command line: the image's own, or
// any static binary on the share (Config.ServerBinary), writing its exit status
// to a file on the share when asked (Config.StatusFile). Readiness is the
// server's info file appearing in the shared directory; nothing connects to the
// guest.
//
// Each guest's console is logged to RUN_DIR/NAME.serial.log and offered on the
// Unix socket RUN_DIR/NAME.console. To look around inside a guest, start it
// with LAB_VM_DEBUG=1, which adds a root shell on that console, and attach:
//
//	socat -,raw,echo=0 UNIX-CONNECT:lab/vm/run/vm1.console
//
// Environment variables:
//
//	LAB_ACCEL          auto (default), kvm or tcg: see ChooseAccel
//	LAB_VM_DEBUG       1 boots guests with a root shell on their console
//	LAB_DEBIAN_MIRROR  Debian mirror for the image build (read by scripts/vm-image.sh,
//	                   default http://deb.debian.org/debian)
package vm

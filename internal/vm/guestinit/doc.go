// Package guestinit is PID 1 of isolab's VM guest: a static program that does
// only what one server needs, where systemd took seconds under TCG. It mounts
// the kernel's file systems, names the guest after its server (host name and
// /etc/hosts, as a Debian install has them, so gethostname + gethostbyname
// works), loads the few modules the guest needs (virtio PCI and network, 9p),
// brings up the static address on QEMU's user network, mounts the lab's
// shared directory over 9p at the host's path, and runs the server from that
// share. Ctrl-Alt-Del (QMP send-key from the host) becomes SIGTERM for the
// server; once it has exited, its exit status goes to a file on the share
// and the guest powers off.
//
// Everything that changes from run to run comes on the kernel command line
// (see ParseCmdline), so one cached image serves every scenario and every
// implementation. Progress lines go to the console, prefixed "lab-init:";
// the host reads them to see that a guest still advances.
//
// It reads no environment variables.
package guestinit

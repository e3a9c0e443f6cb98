// Package sock holds the raw TCP calls the exercise prescribes, on plain file
// descriptors so that their timing is the kernel's and not the Go runtime's:
// select(2) before accept(2), a non-blocking connect(2) bounded by select(2) and
// SO_ERROR, reads until EOF under a deadline, and the choice of the address a
// server listens on.
//
// It reads no environment variables (the routing table comes from /proc/net/route).
package sock

// Package conformance checks implementations of the course's C++ exercise
// against isolab and against each other. An implementation comes as the
// course hands it in (ex5.tar, or a directory with a Makefile) or as sources
// or archives; internal/submission builds it, its code in the sandbox.
// Run crosses one implementation with isolab, Cross every implementation of
// a directory with every other and with isolab: in each environment, every
// server against every client in a cell of two servers plus three of the
// harness's own endpoints, then probes of each server (a late client, a
// crashed run's segment) and each client (a connect that hangs), with each
// known pitfall a named check. The result is a Table; any failed check makes
// Table.Err non-nil, and internal/grading renders it.
//
// Each environment is a Session over internal/runenv, in one network
// namespace of the run's own (internal/labnet: loopback and the engines'
// bridges, no route off the machine), where the clients run too: the host
// (its System V IPC and files shared), a Docker or Podman container (IPC of
// its own, the engine's bridge), a QEMU guest (class VM, its server taken
// from the share). Code that is not isolab's runs as a fresh uid in the
// sandbox (internal/sandbox) on a bounded disk; in a container, as that uid
// with the same limits. What it tried that the sandbox stopped, and what it
// left, is the "kept to its sandbox" check.
//
// Environment variables it reads:
//
//	LAB_ENGINE  docker or podman for the container column (default: Docker when installed, else Podman)
//	LAB_DIR     the lab's directory, whose vm/image the VM column boots (default Root/lab)
//	CXX         the C++ compiler of submissions without a Makefile (default g++; read by internal/submission)
//	LAB_ACCEL, LAB_VM_BOOTS, LAB_VM_STALL  read by internal/vm for the guests
package conformance

// Package conformance checks an implementation of the course's C++ exercise
// against isolab. BuildCLib makes isolab itself such an implementation
// (libserver.a, libclient.a and the course headers, from the Go packages and the
// shims in clib/). Run builds another implementation with the adapter mains in
// conformance/cxx, which give it isolab's command line, then runs the cross
// matrix in each environment (their server with isolab's client, isolab's
// server with their client, theirs with theirs, isolab's with isolab's as the
// control) and checks the known pitfalls by name. The result is a Table; any
// failed check makes Table.Err non-nil.
//
// Environments plug in through Env. HostEnv runs every server and client of a
// run inside one network namespace of its own with only loopback up, sharing the
// host's System V IPC and files, so that no implementation can reach, or bind,
// anything but 127.0.0.0/8, whatever address it picks. ContainerEnv runs each
// server in a least-privileged Docker or Podman container (own IPC namespace,
// the engine's bridge) and the clients in this process's network namespace,
// which must have no default route (scripts/netns-run --dockerd). VMEnv runs
// each server in a QEMU guest of its own, booted from the lab's cached image,
// with the server binary taken from the share (class VM). By default Run uses
// all three: the containers when an engine answers, the VM when QEMU and the
// image are there.
//
// Environment variables it reads:
//
//	CXX         the C++ compiler (default g++)
//	GOROOT      where to find the go command that builds isolab (default: go on $PATH)
//	LAB_ENGINE  docker or podman for the container environment (engine.Detect)
//	LAB_DIR     the lab's directory, whose vm/image the VM environment boots (default Root/lab)
//	LAB_ACCEL   auto, kvm or tcg for the VM environment (read by internal/vm)
//	DOCKER_HOST read by the docker client it runs
package conformance

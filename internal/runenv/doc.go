// Package runenv runs a given static server binary with given arguments in
// an environment: a host process (plain, or in namespaces of its own made by
// unshare(1)), a Docker or Podman container, an Apptainer container, or a
// QEMU guest. It is the one place that knows how each environment starts,
// stops and is found again: the lab, the isolation matrix and the
// conformance harness all start their servers through it, and internal/engine
// and internal/vm stay below it as command lines built as data.
//
// A Runner starts servers (Start) and the host processes around them, such
// as clients (StartProcess), all in the network namespace its Config names.
// Each Server has Done, Stop(grace) with its exit status (a guest's too, from
// the status file its PID 1 writes), Kill, and its log, headed by the exact
// command line that started it. A Server's Handle is plain data: another
// process rebuilds the Server from it with Attach, with no detection of what
// is installed, so that stopping never depends on being able to start.
// Reap finds and removes what an interrupted run left. WaitInfo waits for a
// server's info file while the server makes progress, not for a fixed time.
//
// It reads no environment variables itself; internal/vm reads LAB_ACCEL,
// LAB_VM_DEBUG, LAB_VM_BOOTS and LAB_VM_STALL for the guests it starts.
package runenv

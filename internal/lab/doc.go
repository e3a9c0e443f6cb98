// Package lab stands up the servers of a scenario in their environments (host
// processes, plain or under unshare, Docker or Podman containers, Apptainer, a
// QEMU VM) inside a network namespace of the lab's own, runs the client on the
// host over the shared directory, compares its report with the one the
// scenario predicts, and tears everything down, checking that nothing leaked.
// The magefile's lab targets are thin calls into this package; the
// environments themselves are internal/runenv's, the namespace and its
// dockerd internal/labnet's.
//
// Environment variables it reads:
//
//	LAB_DIR              the lab's working directory (default: lab/ in the repository)
//	LAB_SCENARIO         scenario file to use instead of the embedded default
//	LAB_ENGINE           docker or podman for OCI servers (default: Docker when docker.io is installed, else Podman)
//	LAB_APPTAINER_FLAGS  extra flags for apptainer exec
//	LAB_CLIENT_FLAGS     flags for the client that lab:client runs, e.g. -explain or -json
//	SHELL                the shell lab:shell opens (default /bin/bash)
package lab

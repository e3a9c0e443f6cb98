// Package lab stands up the servers of a scenario in their environments (host
// processes, plain or under unshare, Docker or Podman containers, Apptainer, a
// QEMU VM), runs the client on the host over the shared directory, compares its
// report with the one the scenario predicts, and tears everything down,
// checking that nothing leaked.
// The magefile's lab targets are thin calls into this package.
//
// Environment variables it reads:
//
//	LAB_DIR       the lab's working directory (default: lab/ in the repository)
//	LAB_SCENARIO  scenario file to use instead of the embedded default
//	LAB_ENGINE    docker or podman for OCI servers (default: Docker when its daemon answers, else Podman)
//	LAB_ACCEL     auto, kvm or tcg for VM servers (read by internal/vm)
//	LAB_APPTAINER_FLAGS  extra flags for apptainer (e.g. --drop-caps CAP_SYS_RESOURCE)
package lab

// Package scenario describes a lab run: which isolab servers to start, in which
// environment (host, Docker, Podman, Apptainer, VM), with which port, shared-memory
// key and messages. It parses and validates the TOML file, hands out ports and
// proj_ids so that no two servers collide, derives from the environments the report
// the client on the host should print, and diffs that report against the real one.
// Everything here is pure Go: no engine, segment or socket is touched.
//
// # Scenario file
//
// A scenario is a TOML file; default.toml, embedded in the package, is the default
// and documents every key in its comments. Top level, all optional:
//
//	port_base      = 31000   # first port handed out (DefaultPortBase)
//	accept_timeout = "120s"  # the servers' -accept-timeout; default: the server's own
//
// then one [[server]] table per server:
//
//	name       = "docker1"        # required; names the info file, see InfoName
//	env        = "docker"         # required: host, docker, podman, apptainer, vm or unshare
//	port       = 31005            # optional, 1..65535; default handed out from port_base
//	shm_path   = "shm/docker1"    # optional, relative to the shared directory; default ShmDir/NAME
//	proj_id    = 7                # optional, 1..255; default handed out from 1
//	shm_msg    = "docker1-shm"    # required, no white space
//	socket_msg = "docker1-socket" # required, no white space
//	ipc        = "private"        # docker, podman, apptainer, unshare: "private" (default) or "host"
//	network    = "bridge"         # docker, podman: "bridge" (default), "host", "none";
//	                              # apptainer, unshare: "host" (default) or "none"
//	containall = false            # apptainer only: run with --containall
//	extra_args = ["--memory=64m"] # appended to the engine's command line; not for host or unshare
//	expect     = "Container"      # optional: overrides the derived class
//
// A key the package does not know is an error naming the file and the key, so a typo
// never silently changes a run.
//
// # Layout of the shared directory
//
// The lab's shared directory is bound into every environment at the same absolute
// path. Info files live in its InfoDir subdirectory, one per server, named
// InfoName(server), which is the server's name; the client is pointed at that
// directory. The files whose inodes key the segments (ftok) live elsewhere in the
// shared directory, by default ShmDir/NAME, so the client never mistakes one for an
// info file; the lab creates them empty before it starts the servers.
//
// # Environment variables
//
// The package reads none. The lab passes the value of LAB_SCENARIO (a path to a
// scenario file; empty selects the embedded default) to Load.
package scenario

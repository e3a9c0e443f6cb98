// Package engine runs the lab's server in containers with Docker, Podman or
// Apptainer. A container invocation is data (a Spec built from options such as
// WithSharedDir and WithIPC) that pure functions turn into an argv, so table
// tests check every command line without the engines installed; an Engine then
// runs those argvs: build the image only when its inputs changed, run detached,
// inspect, stop, save the logs, and remove every container carrying a label.
//
// Containers run least-privileged: read-only root, every capability dropped, no
// new privileges, the host user's uid:gid, and the lab's shared directory bound
// at the same absolute path, so an info file written inside belongs to the user
// and an ftok pathname names the same inode on both sides. Each carries the
// labels isolab=1 and isolab.server=NAME so that a later run finds what an
// interrupted one left.
//
// Podman keeps no daemon: a rootful container's network (its bridge, netavark's
// firewall rules) lives in the network namespace of the podman command that
// created it, so every later podman command for that container must run in the
// same namespace, or its network teardown fails.
//
// Environment variables it reads:
//
//	DOCKER_HOST  read by the docker client it runs, when an Engine's Prefix
//	             sets none (the lab's runs set the socket of their own dockerd)
package engine

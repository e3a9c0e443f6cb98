// Package netns makes, enters and deletes the named network namespaces the
// lab and the tests run in: loopback up, then only the bridges the container
// engines make inside, and no route out, so that a connect to any address
// that is not the lab's own (a VM guest's 10.0.2.15, say) fails at once as
// unreachable instead of leaving the machine. Namespaces are named ones, as
// ip-netns(8) makes them (/run/netns/NAME), so that another process (lab:down
// after lab:up) finds the same one and nsenter(1) can run a command inside.
//
// It reads no environment variables.
package netns

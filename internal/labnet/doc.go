// Package labnet stands up and tears down the lab's network: a named network
// namespace with loopback only (internal/netns), and, when a run has Docker
// servers, a private dockerd started inside it, whose bridge is then the
// namespace's only other link. Everything the lab, the matrix, the
// conformance harness and the tests run goes in such a namespace, so that no
// connection they make can leave the machine.
//
// Up makes both; Down stops the dockerd (stopping its containers), kills
// whatever else is left in the namespace, deletes it and unmounts what
// dockerd left, and works from the names alone: after a kill -9 of any part,
// from another process, and after a reboot emptied /run.
//
// It reads no environment variables.
package labnet

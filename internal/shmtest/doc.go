// Package shmtest lets a test make System V segments from another process: a
// stale segment whose creator has exited, or an attach that is not the test's
// own. It re-runs the test binary, whose TestMain must call Main or MaybeChild.
//
// It reads ISOLAB_SHMTEST, set only in the child it starts.
package shmtest

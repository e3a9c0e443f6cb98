// Package sandbox runs code the grader did not write (a submission's make,
// its server on the host, its client) so that it cannot harm the grader's
// machine, and says what it tried. A small helper, cmd/isolab-sandbox, runs
// as root only to set the cage up and to watch:
//
//   - a mount namespace of its own where the whole system is read-only (and
//     nosuid) but for the directories a Policy names, with empty private
//     tmpfs traps over /tmp, /var/tmp, /dev/shm and /home, so that what the
//     code writes where code usually writes is kept from the system and
//     reported;
//   - the code itself as a fresh unprivileged uid and gid (never root, never
//     the grader's user), with no capabilities, no new privileges, and
//     limits on processes, CPU time, memory, file size and open files; the
//     programs that work together (a trial's server and client) share one,
//     as one user runs them, and nothing else does, so that kill(-1) or a
//     fork bomb reaches nothing but them;
//   - when the code ends (or after SIGTERM and a grace, when it does not),
//     what it started is killed, and a Report (JSON) names what happened:
//     a fork bomb (stopped at its process limit), the limits it ran into,
//     the processes it left, the files it wrote outside, a full directory.
//
// The caller holds a Canary of the uid, whose death tells that the code
// signalled every process it could, and Cleans the uid at the end: every
// process and System V segment of it.
//
// The disk a Policy's directories are on is the caller's to bound (a tmpfs
// of a set size, as the conformance harness mounts for each submission).
//
// It reads no environment variables; the code it runs gets a clean
// environment (PATH, HOME, TMPDIR, LANG).
package sandbox

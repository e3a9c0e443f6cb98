// Package procfs reads what isolab needs of Linux's /proc: a process's
// stat line (state, parent, group, session, CPU time), its command line,
// its real uid, the list of processes, and mountinfo. The lab, the
// environments, the sandbox and the leak checks all read processes through
// it, so that the one parser that copes with a command name holding spaces
// and parentheses is the only one.
//
// It reads no environment variables. On a system without /proc every
// reader returns an error (or nothing), never a guess.
package procfs

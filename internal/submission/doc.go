// Package submission turns an implementation of the course's exercise, as a
// grader or a group has it, into two static programs with isolab's command
// line, for the conformance harness to run: a tarball as handed in (ex5.tar:
// README, sources, ANSWERS.txt and a Makefile whose bare make builds
// libserver.a and libclient.a), a directory with a Makefile, a directory of
// C++ sources, or one with the two archives, each with the course headers.
// The adapter mains of conformance/cxx are linked against the archives.
//
// Everything a submission brings runs in the sandbox (internal/sandbox) as a
// fresh unprivileged uid: its make, the compiler on its sources, the linker
// on its archives. What goes wrong is a named Check with the tail of the
// output, and the build goes on with what it can: a submission whose client
// builds and whose server does not still has its client tested. BuildCLib
// builds isolab itself as such an implementation.
//
// Environment variables it reads: CXX, the C++ compiler (default g++).
package submission

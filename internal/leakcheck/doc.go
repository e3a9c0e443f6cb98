// Package leakcheck makes a test fail when it leaves behind what it made: System V
// shared-memory segments created by the test process or by processes it started,
// child processes (running or unreaped), and listening TCP ports. Tests of
// several packages run at once, so only segments whose creator is this process, a
// descendant of it, or a process the test declared with Own count.
//
// It reads no environment variables.
package leakcheck

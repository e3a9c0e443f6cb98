// Package report holds the client's verdict in the exercise's five-line form:
// how many servers it found, how many it classed Host, Container and VM, and the
// messages it read. The client prints it; the lab derives the expected one from a
// scenario and diffs the two, so both sides share this single formatter and parser.
//
// It reads no environment variables.
package report

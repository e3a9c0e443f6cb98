// Package grading renders a conformance table (internal/conformance) for
// graders and for the CI systems that gather them: the cross table of who
// classifies whom right, a Markdown summary, and JUnit XML with one test
// case per check, so that a course with hundreds of submissions can grade
// one per job on many machines and collect the results anywhere JUnit is
// read.
//
// It reads no environment variables; the magefile writes the JUnit file
// where ISOLAB_JUNIT says.
package grading

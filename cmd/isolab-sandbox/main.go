// Command isolab-sandbox runs a command the grader did not write (a
// submission's make, server or client) as a fresh unprivileged uid, in a
// mount namespace where all but the given directories is read-only, with
// limits, and reports what it tried. The conformance harness starts it as
// root; see internal/sandbox.
//
//	isolab-sandbox -uid N [-rw DIR]... [-dir DIR] [-procs N] [-cpu D] [-mem B]
//	               [-fsize B] [-files N] [-grace D] [-report FILE] -- COMMAND [ARG]...
package main

import (
	"os"

	"github.com/isolab/isolab/internal/sandbox"
)

func main() { os.Exit(sandbox.Main(os.Args[1:])) }

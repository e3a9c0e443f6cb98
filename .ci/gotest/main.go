// Command gotest reads `go test -json` output on stdin and prints what a
// person needs of it: a line per package, the output of every test that
// failed, and every skipped test with its reason. It exits 1 when a test
// or a package failed, or when a test was skipped for any reason but a
// program that is not installed: no test may skip for want of a network
// namespace, a dockerd, root or a VM image, which the tests make
// themselves (issue 11).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// event is one line of test2json's output.
type event struct {
	Action, Package, Test, Output string
	Elapsed                       float64
}

// allowed is the one reason a test may skip: a program is not installed,
// named with what to install ("... not found (try: apt-get install ...)").
var allowed = regexp.MustCompile(`not (found|installed)\b.*\(try: `)

func main() {
	out := map[string][]string{} // "package test" -> its output
	var skipped, failed []string
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Println(sc.Text()) // a build error, as go test printed it
			continue
		}
		id := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			out[id] = append(out[id], strings.TrimRight(e.Output, "\n"))
		case "skip":
			if e.Test != "" {
				skipped = append(skipped, id)
			}
		case "fail":
			failed = append(failed, id)
			if e.Test == "" {
				fmt.Printf("FAIL %s (%.1fs)\n", e.Package, e.Elapsed)
			}
		case "pass":
			if e.Test == "" {
				fmt.Printf("ok   %s (%.1fs)\n", e.Package, e.Elapsed)
			}
		}
	}
	for _, id := range failed {
		if !strings.HasSuffix(id, " ") { // a test, not a package
			fmt.Printf("\n--- FAIL: %s\n%s\n", id, strings.Join(out[id], "\n"))
		}
	}
	bad := 0
	for _, id := range skipped {
		reason := strings.Join(out[id], " | ")
		verdict := "ok"
		if !allowed.MatchString(reason) {
			verdict = "NOT ALLOWED"
			bad++
		}
		fmt.Printf("skip (%s): %s: %s\n", verdict, id, reason)
	}
	fmt.Printf("%d failed, %d skipped (%d for a reason other than a program that is not installed)\n", len(failed), len(skipped), bad)
	if len(failed) > 0 || bad > 0 {
		os.Exit(1)
	}
}

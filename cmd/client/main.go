// Command client runs the exercise's client on the host: it reads every info file
// in DIR, tries each server's shared memory and socket, and prints
//
//	Total Servers: N
//	Host: h
//	Container: c
//	VM: v
//	Messages: m1 m2 ...
//
// Usage: client [-explain] [-json] [-connect-timeout 5s] DIR
//
// Exit status: 0 on success; 2 when an info file was malformed and left out (one
// stderr line per file); 1 on a system error ("system error: ..." on stderr).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/isolab/isolab/client"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: client [-explain] [-json] [-connect-timeout 5s] DIR")
		fs.PrintDefaults()
	}
	var opt client.Options
	explain := fs.Bool("explain", false, "after the five lines, print a table of what each channel of each server did")
	asJSON := fs.Bool("json", false, "print one JSON document instead of the five lines")
	fs.DurationVar(&opt.ConnectTimeout, "connect-timeout", client.DefaultConnectTimeout, "bound on each connect")
	fs.DurationVar(&opt.ReadTimeout, "read-timeout", client.DefaultReadTimeout, "bound on reading each socket message")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	dir := fs.Arg(0)

	var res client.Result
	var err error
	if *asJSON {
		res, err = client.Probe(dir, opt)
		if err == nil || res.Servers != nil {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			err = errorsJoin(err, enc.Encode(res))
		}
	} else {
		res, err = client.Run(stdout, dir, opt)
		if *explain && res.Servers != nil {
			fmt.Fprintln(stdout)
			err = errorsJoin(err, client.WriteExplain(stdout, res))
		}
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(stderr, "client: skipped info file %s: %s\n", s.File, s.Error)
	}
	if err != nil {
		fmt.Fprintf(stderr, "system error: %v\n", err)
		return 1
	}
	if len(res.Skipped) > 0 {
		return 2
	}
	return 0
}

func errorsJoin(a, b error) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return fmt.Errorf("%w; %w", a, b)
}

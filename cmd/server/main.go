// Command server runs the exercise's server: it offers one message in System V
// shared memory and another over TCP to the first client, advertised by an info
// file in a shared directory, then cleans up and exits.
//
//	server -port P -shm-path PATH -proj-id N -info-dir DIR -info-name NAME \
//	       -shm-msg M -socket-msg M [-ip ADDR] [-accept-timeout 120s]
//
// On failure it prints exactly one line, "system error: <what failed>: <cause>",
// on stderr after releasing everything it had taken, and exits 1. SIGINT and
// SIGTERM end the wait; the server then releases everything and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/isolab/isolab/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	setup, shmMsg, socketMsg, quiet, code := parse(args, stderr)
	if code != 0 {
		return code
	}
	if !quiet {
		logger := log.New(stdout, "server "+setup.InfoFileName+": ", log.Ltime|log.Lmicroseconds)
		setup.Logf = logger.Printf
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if err := server.Run(ctx, setup, shmMsg, socketMsg); err != nil {
		fmt.Fprintf(stderr, "system error: %v\n", oneLine(err))
		return 1
	}
	if setup.Logf != nil {
		setup.Logf("done after %s", time.Since(start).Round(time.Millisecond))
	}
	return 0
}

// parse reads the command line (server.CommandLine writes it); on a usage
// error it says so on stderr and returns exit status 2.
func parse(args []string, stderr io.Writer) (setup server.Setup, shmMsg, socketMsg string, quiet bool, code int) {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ip string
	fs.IntVar(&setup.Port, "port", 0, "TCP `port` to listen on (1..65535)")
	fs.StringVar(&setup.ShmPathname, "shm-path", "", "existing `file` that keys the shared-memory segment (ftok pathname)")
	fs.IntVar(&setup.ShmProjID, "proj-id", 0, "ftok proj_id, `N` with low 8 bits not 0")
	fs.StringVar(&setup.InfoFileDirectory, "info-dir", "", "shared `directory` for the info file")
	fs.StringVar(&setup.InfoFileName, "info-name", "", "info file `name` (no '/' or '..')")
	fs.StringVar(&shmMsg, "shm-msg", "", "`message` to put in shared memory")
	fs.StringVar(&socketMsg, "socket-msg", "", "`message` to send to the client over TCP")
	fs.StringVar(&ip, "ip", "", "IPv4 `address` to listen on (default: the default route's interface, else the first up non-loopback, else 127.0.0.1)")
	fs.DurationVar(&setup.AcceptTimeout, "accept-timeout", server.DefaultAcceptTimeout, "how long to wait for a client")
	fs.DurationVar(&setup.Grace, "grace", server.DefaultGrace, "how long to keep the segment for a client that has not attached yet")
	fs.BoolVar(&quiet, "q", false, "print no progress lines on stdout")
	if err := fs.Parse(args); err != nil {
		code = 2
		return
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "server: unexpected argument %q\n", fs.Arg(0))
		code = 2
		return
	}
	for _, f := range []struct{ name, val string }{
		{"-shm-path", setup.ShmPathname}, {"-info-dir", setup.InfoFileDirectory},
		{"-info-name", setup.InfoFileName}, {"-shm-msg", shmMsg}, {"-socket-msg", socketMsg},
	} {
		if f.val == "" {
			fmt.Fprintf(stderr, "server: flag %s is required\n", f.name)
			code = 2
			return
		}
	}
	if setup.Port == 0 {
		fmt.Fprintln(stderr, "server: flag -port is required")
		code = 2
		return
	}
	if setup.ShmProjID == 0 {
		fmt.Fprintln(stderr, "server: flag -proj-id is required (1..255; ftok uses its low 8 bits, which must not be 0)")
		code = 2
		return
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			fmt.Fprintf(stderr, "server: flag -ip: %q is not an IPv4 address\n", ip)
			code = 2
			return
		}
		setup.IP = a
	}
	return setup, shmMsg, socketMsg, quiet, 0
}

// oneLine joins the lines of an errors.Join result, so stderr gets exactly one.
func oneLine(err error) string {
	b := []byte(err.Error())
	for i, c := range b {
		if c == '\n' {
			b[i] = ';'
		}
	}
	return string(b)
}

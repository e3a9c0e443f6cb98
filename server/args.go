package server

import (
	"strconv"
	"time"
)

// CommandLine is the command line of cmd/server (without the binary) that
// runs Run with setup, shmMsg and socketMsg: the one place that writes it,
// for the lab, the conformance harness and the VM alike. Zero values of IP,
// AcceptTimeout and Grace are left to the server's defaults. C++ adapters
// (conformance/cxx/server_main.cpp) take the same flags.
func CommandLine(setup Setup, shmMsg, socketMsg string) []string {
	args := []string{
		"-port", strconv.Itoa(setup.Port),
		"-shm-path", setup.ShmPathname,
		"-proj-id", strconv.Itoa(setup.ShmProjID),
		"-info-dir", setup.InfoFileDirectory,
		"-info-name", setup.InfoFileName,
		"-shm-msg", shmMsg,
		"-socket-msg", socketMsg,
	}
	if setup.IP.IsValid() {
		args = append(args, "-ip", setup.IP.String())
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"-accept-timeout", setup.AcceptTimeout}, {"-grace", setup.Grace}} {
		if d.v > 0 {
			args = append(args, d.flag, d.v.String())
		}
	}
	return args
}

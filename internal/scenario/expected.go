package scenario

import (
	"fmt"
	"slices"
	"strings"

	"github.com/isolab/isolab/internal/report"
)

// Visibility is what the client on the host can reach of one server.
type Visibility struct {
	Shm    bool   // it can attach the server's segment
	Socket bool   // it can connect to the server's socket
	Note   string // why the class misleads, when it does; else ""
}

// Class returns the class the client gives a server it sees this way.
func (v Visibility) Class() report.Class { return report.Classify(v.Shm, v.Socket) }

// Visibility derives from s's environment and engine options what the host's
// client can reach, assuming rootful engines unless s.Rootless is set:
//
//   - host: its segment and its socket (Host).
//   - docker, podman: the socket through the bridge address, not the segment in
//     the container's own IPC namespace (Container). ipc "host" adds the segment
//     (Host); network "host" keeps the socket; network "none" loses it (so VM, or
//     Container with ipc "host"). Rootless, a bridge address is out of reach.
//   - apptainer: the socket, since it keeps the host's network, and the segment
//     only with ipc "host" (Host); network "none" loses the socket.
//   - vm: neither: its own kernel, and QEMU's user network behind NAT (VM).
//   - unshare: a host process, but with an IPC namespace of its own (unless ipc
//     is "host") the segment is out of reach (Container); network "none" (unshare
//     --net) loses the socket too (VM).
//
// Note explains a server the rule does not give the class its kind of
// environment suggests (Env.Nominal). Expectation applies the scenario's
// expect on top.
func (s Server) Visibility() Visibility {
	switch {
	case s.Env == EnvHost:
		return Visibility{Shm: true, Socket: true}
	case s.Env == EnvVM:
		return Visibility{}
	case !s.Env.Namespaced():
		return Visibility{Note: fmt.Sprintf("unknown env %q", s.Env)}
	}
	var v Visibility
	var why []string
	if s.EffectiveIPC() == IPCHost {
		v.Shm = true
		why = append(why, "it shares the host's IPC namespace")
	} else {
		why = append(why, "it has an IPC namespace of its own")
	}
	switch s.EffectiveNetwork() {
	case NetworkHost:
		v.Socket = true
		why = append(why, "it shares the host's network")
	case NetworkBridge:
		if s.Rootless {
			why = append(why, "its rootless engine's network is out of the host's reach")
		} else {
			v.Socket = true
			why = append(why, "the host reaches its bridge address")
		}
	default:
		why = append(why, "it has no network but loopback")
	}
	if c := v.Class(); c != s.Env.Nominal() {
		what := fmt.Sprintf("%s container", s.Env)
		if s.Env == EnvUnshare {
			what = "host process under unshare"
		}
		v.Note = fmt.Sprintf("%s, but %s, so the rule calls it %s", what, strings.Join(why, " and "), c)
	}
	return v
}

// Expectation is the Visibility the expected report assumes for s: the derived
// one, unless s.Expect names another class. Then Host means both channels, VM
// neither, and Container the derived channel if there is exactly one, else the
// socket; Note says that expect overrode the derivation.
func (s Server) Expectation() Visibility {
	v := s.Visibility()
	var want report.Class
	if s.Expect == "" || want.UnmarshalText([]byte(s.Expect)) != nil || want == v.Class() {
		return v
	}
	derived := v.Class()
	switch want {
	case report.Host:
		v.Shm, v.Socket = true, true
	case report.VM:
		v.Shm, v.Socket = false, false
	default:
		v.Shm, v.Socket = false, true
	}
	v.Note = fmt.Sprintf("expect = %q overrides the derived %s", s.Expect, derived)
	return v
}

// Expected returns the report the client should print for servers: each counted
// under its Expectation's class, and the messages of the servers sorted by info
// file name (byte order, as the client sorts them; ties keep their order), each
// server's shm message if its segment is expected visible, then its socket
// message if its socket is. A nil infoName means InfoName.
func Expected(servers []Server, infoName func(Server) string) report.Report {
	if infoName == nil {
		infoName = InfoName
	}
	sorted := slices.Clone(servers)
	slices.SortStableFunc(sorted, func(a, b Server) int {
		return strings.Compare(infoName(a), infoName(b))
	})
	r := report.Report{Messages: []string{}}
	for _, s := range sorted {
		v := s.Expectation()
		r.Add(v.Class())
		if v.Shm {
			r.Messages = append(r.Messages, s.ShmMsg)
		}
		if v.Socket {
			r.Messages = append(r.Messages, s.SocketMsg)
		}
	}
	return r
}

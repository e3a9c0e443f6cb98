package engine

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// HostUlimits returns this process's nofile and nproc limits (getrlimit(2)),
// with nproc capped at kernel.pid_max: a container may always be given these,
// as they raise nothing. (Rootful Podman starts conmon with nproc capped at
// pid_max, and runc cannot set a container limit above its parent's hard one
// without CAP_SYS_RESOURCE.) Copying the caller's nproc rather than a small
// constant matters: nproc counts every thread of the uid on the machine, and
// the server runs as the host user.
func HostUlimits() []Ulimit {
	var out []Ulimit
	for _, r := range []struct {
		name     string
		resource int
	}{{"nofile", unix.RLIMIT_NOFILE}, {"nproc", unix.RLIMIT_NPROC}} {
		var l unix.Rlimit
		if unix.Getrlimit(r.resource, &l) != nil {
			continue
		}
		u := Ulimit{Name: r.name, Soft: l.Cur, Hard: l.Max}
		if r.resource == unix.RLIMIT_NPROC {
			if max, ok := pidMax(); ok {
				u.Soft, u.Hard = min(u.Soft, max), min(u.Hard, max)
			}
		}
		out = append(out, u)
	}
	return out
}

// pidMax reads kernel.pid_max.
func pidMax() (uint64, bool) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil && v > 0
}

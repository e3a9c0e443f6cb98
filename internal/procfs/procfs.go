package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Stat is the part of /proc/PID/stat that isolab reads (proc(5)).
type Stat struct {
	PID     int
	Comm    string // the program's name, at most 15 bytes
	State   byte   // 'R', 'S', 'D', 'Z', 'T', ...
	PPID    int
	PGRP    int
	Session int
	// UTime and STime are the CPU time it used, in clock ticks.
	UTime, STime int64
	// StartTime is when it started, in clock ticks after boot: with the
	// pid, it names one process for good (a pid is reused, this pair not).
	StartTime int64
}

// Zombie reports whether the process has exited and waits for its parent.
func (s Stat) Zombie() bool { return s.State == 'Z' || s.State == 'X' }

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return parseStat(b)
}

// parseStat parses "pid (comm) state ppid pgrp session ...": comm may hold
// spaces and parentheses, so it ends at the last ')'.
func parseStat(b []byte) (Stat, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Stat{}, fmt.Errorf("procfs: bad stat line %q", b)
	}
	f := strings.Fields(string(b[end+1:])) // from field 3 on
	if len(f) < 20 {
		return Stat{}, fmt.Errorf("procfs: short stat line %q", b)
	}
	var s Stat
	var err error
	num := func(field int) int64 { // 1-based, as proc(5) counts
		v, e := strconv.ParseInt(f[field-3], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("procfs: stat field %d of %q: %w", field, b, e)
		}
		return v
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if perr != nil {
		return Stat{}, fmt.Errorf("procfs: bad pid in stat line %q", b)
	}
	s = Stat{PID: pid, Comm: string(b[open+1 : end]), State: f[0][0],
		PPID: int(num(4)), PGRP: int(num(5)), Session: int(num(6)), UTime: num(14), STime: num(15), StartTime: num(22)}
	return s, err
}

// Runnable is how long pid's main thread has been runnable so far: on a
// CPU or waiting in a run queue for one (/proc/PID/schedstat's first two
// fields). A program that loops is runnable all the time, however busy the
// machine, where its CPU time shrinks with its share; one that waits for
// input is not. ok is false once pid is gone.
func Runnable(pid int) (d time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/schedstat")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	onCPU, err1 := strconv.ParseInt(f[0], 10, 64)
	waiting, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(onCPU + waiting), true
}

// Live reports whether pid runs: it exists and has not exited (a zombie has).
func Live(pid int) bool {
	if pid <= 0 {
		return false
	}
	s, err := ReadStat(pid)
	return err == nil && !s.Zombie()
}

// Cmdline reads /proc/PID/cmdline: the process's arguments, nil once it has
// exited (a zombie has none).
func Cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// RealUID reads the real uid of pid from /proc/PID/status.
func RealUID(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			return strconv.Atoi(f[1])
		}
	}
	return -1, fmt.Errorf("procfs: no Uid line in /proc/%d/status", pid)
}

// PIDs lists every process this process can see.
func PIDs() []int {
	des, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range des {
		if pid, err := strconv.Atoi(d.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// SessionTicks is the CPU time, in clock ticks, of every process in pid's
// session: a server and what it started, a daemon and its helpers. It
// grows while they work, so it is what a wait on them follows; -1 when
// pid is gone.
func SessionTicks(pid int) int64 {
	st, err := ReadStat(pid)
	if err != nil {
		return -1
	}
	var total int64
	for _, p := range PIDs() {
		if s, err := ReadStat(p); err == nil && s.Session == st.Session {
			total += s.UTime + s.STime
		}
	}
	return total
}

// Mount is one line of a mountinfo file.
type Mount struct {
	Point   string   // where it is mounted, unescaped
	Options []string // the per-mount options: ro, nodev, noexec, relatime, ...
}

// Mounts reads a mountinfo file: /proc/self/mountinfo, or
// /proc/thread-self/mountinfo for a thread that entered a mount namespace.
func Mounts(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		out = append(out, Mount{Point: unescape(fields[4]), Options: strings.Split(fields[5], ",")})
	}
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

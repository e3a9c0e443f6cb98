package leakcheck

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/procfs"
	"github.com/isolab/isolab/internal/progress"
)

// Segment is one line of /proc/sysvipc/shm.
type Segment struct {
	Key    int32
	ID     int
	Cpid   int
	Nattch int
}

// Settle is how long Check's cleanup waits for processes and segments that are
// still going away (a server removing its segment as it exits) while nothing
// changes: as long as they still change (a process uses CPU time, a segment
// goes), it waits on, however slow the machine.
var Settle = 3 * time.Second

// Checker holds the snapshot Check took.
type Checker struct {
	t      testing.TB
	self   int
	before map[[2]int]bool // key, shmid of segments that existed already
	kids   map[int]bool    // child pids that existed already

	mu    sync.Mutex
	owned map[int]bool // pids the test started, alive or not
}

// Check snapshots the segments and child processes that exist now and registers a
// cleanup that fails t if new ones of this test remain. Register it before the
// cleanups that release things, so that it runs after them.
func Check(t testing.TB) *Checker {
	t.Helper()
	c := &Checker{t: t, self: os.Getpid(), before: map[[2]int]bool{}, kids: map[int]bool{}, owned: map[int]bool{}}
	segs, err := Segments()
	if err != nil {
		t.Fatalf("leakcheck: %v", err)
	}
	for _, s := range segs {
		c.before[[2]int{int(s.Key), s.ID}] = true
	}
	for _, pid := range Children(c.self) {
		c.kids[pid] = true
	}
	t.Cleanup(c.verify)
	return c
}

// Own declares pid as a process the test started: segments it created count as
// the test's even once it has exited.
func (c *Checker) Own(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.owned[pid] = true
}

// New returns the segments created since Check by this process, its descendants
// or owned processes.
func (c *Checker) New() []Segment {
	segs, err := Segments()
	if err != nil {
		c.t.Errorf("leakcheck: %v", err)
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Segment
	for _, s := range segs {
		if c.before[[2]int{int(s.Key), s.ID}] {
			continue
		}
		if s.Cpid == c.self || c.owned[s.Cpid] || descendant(s.Cpid, c.self) {
			out = append(out, s)
		}
	}
	return out
}

func (c *Checker) newKids() []int {
	var out []int
	for _, pid := range Children(c.self) {
		if !c.kids[pid] {
			out = append(out, pid)
		}
	}
	return out
}

func (c *Checker) verify() {
	clean := func() bool { return len(c.New()) == 0 && len(c.newKids()) == 0 }
	// What is still going away: the CPU time of the processes left, and
	// how many segments and processes there are.
	changing := func() int64 {
		segs, kids := c.New(), c.newKids()
		n := int64(len(segs))<<40 | int64(len(kids))<<32
		for _, pid := range kids {
			if st, err := procfs.ReadStat(pid); err == nil {
				n += st.UTime + st.STime
			}
		}
		return n
	}
	// A process left behind that spins forever changes forever: MaxSettle
	// bounds the wait for it.
	ctx, cancel := context.WithTimeout(context.Background(), MaxSettle)
	defer cancel()
	if progress.Until(ctx, clean, nil, changing, Settle) == nil {
		return
	}
	for _, s := range c.New() {
		c.t.Errorf("leakcheck: segment key 0x%08x shmid %d (creator pid %d, %d attached) left behind; remove with: ipcrm -m %d",
			uint32(s.Key), s.ID, s.Cpid, s.Nattch, s.ID)
	}
	for _, pid := range c.newKids() {
		c.t.Errorf("leakcheck: child process %d (%s) left behind", pid, describe(pid))
	}
}

// MaxSettle bounds Check's wait for what still changes: far above what a
// process takes to exit, even on a busy machine.
var MaxSettle = 2 * time.Minute

// Segments reads /proc/sysvipc/shm: the segments of this IPC namespace.
func Segments() ([]Segment, error) {
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Segment
	sc := bufio.NewScanner(f)
	sc.Scan() // header: key shmid perms size cpid lpid nattch ...
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 7 {
			continue
		}
		key, err1 := strconv.ParseInt(f[0], 10, 32)
		id, err2 := strconv.Atoi(f[1])
		cpid, err3 := strconv.Atoi(f[4])
		nattch, err4 := strconv.Atoi(f[6])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("/proc/sysvipc/shm: bad line %q", sc.Text())
		}
		out = append(out, Segment{Key: int32(key), ID: id, Cpid: cpid, Nattch: nattch})
	}
	return out, sc.Err()
}

// HasKey reports whether a segment with key exists in this IPC namespace.
func HasKey(key int32) bool {
	segs, _ := Segments()
	return slices.ContainsFunc(segs, func(s Segment) bool { return s.Key == key })
}

// Children lists the processes whose parent is pid, zombies included.
func Children(pid int) []int {
	var out []int
	for _, p := range procfs.PIDs() {
		if st, err := procfs.ReadStat(p); err == nil && st.PPID == pid {
			out = append(out, p)
		}
	}
	return out
}

// descendant reports whether pid is alive and has ancestor among its parents.
func descendant(pid, ancestor int) bool {
	for i := 0; i < 64 && pid > 1; i++ {
		st, err := procfs.ReadStat(pid)
		if err != nil {
			return false
		}
		if pid = st.PPID; pid == ancestor {
			return true
		}
	}
	return false
}

func describe(pid int) string {
	if argv := procfs.Cmdline(pid); len(argv) > 0 {
		return strings.Join(argv, " ")
	}
	return "exited, not reaped"
}

// PortFree fails t when something still listens on 127.0.0.1:port or
// the port cannot be bound again.
func PortFree(t testing.TB, port int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Errorf("leakcheck: port %d still taken: %v", port, err)
		return
	}
	l.Close()
}

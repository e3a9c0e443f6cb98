package sandbox

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Limits bound what the code may take. Every process of the code's uid
// shares Procs (the uid is fresh, so that is the code's process tree); CPU,
// Memory, FileSize and Files hold for each process.
type Limits struct {
	Procs    int           // processes and threads (RLIMIT_NPROC)
	CPU      time.Duration // CPU time of each process (RLIMIT_CPU: SIGXCPU, then SIGKILL a second later)
	Memory   int64         // address space of each process, bytes (RLIMIT_AS)
	FileSize int64         // size of each file it writes, bytes (RLIMIT_FSIZE: SIGXFSZ)
	Files    int           // open files of each process (RLIMIT_NOFILE)
}

// RunLimits are for the servers and the client of a trial, which share
// them as they share the trial's uid: far above what they need (a few
// milliseconds of CPU each), far below what would hurt the machine. Procs
// counts threads: a Go program (isolab's server and client, and the course
// archives) runs 4 to 12, more under load, and a trial runs up to three of
// them beside the canary; with 32 one of them sometimes could not start a
// thread on a busy machine and died. Memory is address space, which a Go
// program reserves 1.2 GiB of at its start.
var RunLimits = Limits{Procs: 128, CPU: 10 * time.Second, Memory: 4 << 30, FileSize: 64 << 20, Files: 1024}

// BuildLimits are for make and the compiler it runs.
var BuildLimits = Limits{Procs: 64, CPU: 5 * time.Minute, Memory: 4 << 30, FileSize: 256 << 20, Files: 1024}

// Policy is how one process tree of untrusted code runs.
type Policy struct {
	// UID is its uid and gid (NewUID): of its own, or shared with the code
	// it works with (a trial's server and client, as one user runs them);
	// never with anything else, as kill(-1) and the process limit reach
	// every process of the uid.
	UID      int
	Writable []string // the only directories it may write (absolute)
	// Visible are files and directories it must see, read-only, where a
	// trap or Hidden would hide them (a container's image under /tmp).
	Visible []string
	// Hidden are directories it must not see at all, world-readable as
	// they may be (the other submissions, the grader's checkout): each is
	// an empty read-only directory for it, but for the Writable and
	// Visible paths under it, bound back in place.
	Hidden []string
	Dir    string // its working directory ("" means the first writable one)
	Limits Limits
	// Grace is how long it has to end after SIGTERM before every process
	// of its uid is killed.
	Grace time.Duration
	// Report is where the helper writes its Report (a file the code cannot
	// write); "" means none.
	Report string
	// UserNS lets the code make user namespaces, as Apptainer does when it
	// runs without setuid: /proc stays writable for their maps. Every
	// mount the cage made stays locked in them, read-only and trapped.
	UserNS bool
}

// uidBase and uidSpan are where NewUID picks uids: above any a system or a
// user gets (useradd stops at 60000, subordinate ids start at 100000 and
// come in blocks of 65536 per user), below the 32-bit limit.
const (
	uidBase = 1_000_000_000
	uidSpan = 1_000_000_000
)

// NewUID picks a uid that no account has and no process or file here is
// likely to: random in a range far above every allocator's, checked against
// the running processes. Give each process tree its own.
func NewUID() int {
	for {
		var b [4]byte
		rand.Read(b[:])
		uid := uidBase + int(binary.BigEndian.Uint32(b[:])%uidSpan)
		if len(Processes(uid)) == 0 {
			return uid
		}
	}
}

// Argv is the command line that runs argv under p, with helper being the
// path of cmd/isolab-sandbox.
func (p Policy) Argv(helper string, argv []string) []string {
	out := []string{helper, "-uid", strconv.Itoa(p.UID)}
	for _, w := range p.Writable {
		out = append(out, "-rw", w)
	}
	for _, v := range p.Visible {
		out = append(out, "-ro", v)
	}
	for _, h := range p.Hidden {
		out = append(out, "-hide", h)
	}
	if p.Dir != "" {
		out = append(out, "-dir", p.Dir)
	}
	l := p.Limits
	out = append(out,
		"-procs", strconv.Itoa(l.Procs), "-cpu", l.CPU.String(), "-mem", strconv.FormatInt(l.Memory, 10),
		"-fsize", strconv.FormatInt(l.FileSize, 10), "-files", strconv.Itoa(l.Files), "-grace", p.Grace.String())
	if p.Report != "" {
		out = append(out, "-report", p.Report)
	}
	if p.UserNS {
		out = append(out, "-userns")
	}
	return append(append(out, "--"), argv...)
}

// dirs is a repeatable flag.
type dirs []string

func (d *dirs) String() string     { return strings.Join(*d, ",") }
func (d *dirs) Set(v string) error { *d = append(*d, v); return nil }

// parse reads the helper's command line, as Argv writes it; it returns the
// policy and the command to run.
func parse(args []string) (Policy, []string, error) {
	fs := flag.NewFlagSet("isolab-sandbox", flag.ContinueOnError)
	var p Policy
	var rw, ro, hide dirs
	fs.IntVar(&p.UID, "uid", 0, "the code's `uid` and gid")
	fs.Var(&rw, "rw", "a `directory` it may write (repeat)")
	fs.Var(&ro, "ro", "a `path` it must see, read-only (repeat)")
	fs.Var(&hide, "hide", "a `directory` it must not see (repeat)")
	fs.StringVar(&p.Dir, "dir", "", "its working `directory`")
	fs.IntVar(&p.Limits.Procs, "procs", RunLimits.Procs, "processes of its uid")
	fs.DurationVar(&p.Limits.CPU, "cpu", RunLimits.CPU, "CPU time of each process")
	fs.Int64Var(&p.Limits.Memory, "mem", RunLimits.Memory, "address space of each process, bytes")
	fs.Int64Var(&p.Limits.FileSize, "fsize", RunLimits.FileSize, "size of each file, bytes")
	fs.IntVar(&p.Limits.Files, "files", RunLimits.Files, "open files of each process")
	fs.DurationVar(&p.Grace, "grace", 2*time.Second, "time to end after SIGTERM")
	fs.StringVar(&p.Report, "report", "", "`file` for the report")
	fs.BoolVar(&p.UserNS, "userns", false, "let it make user namespaces (Apptainer)")
	if err := fs.Parse(args); err != nil {
		return p, nil, err
	}
	p.Writable, p.Visible, p.Hidden = rw, ro, hide
	switch {
	case p.UID < 1000:
		return p, nil, fmt.Errorf("-uid %d: want an unprivileged uid of its own", p.UID)
	case fs.NArg() == 0:
		return p, nil, errors.New("no command to run")
	}
	for _, w := range p.Writable {
		if !filepath.IsAbs(w) {
			return p, nil, fmt.Errorf("-rw %s: not an absolute path", w)
		}
	}
	for _, v := range p.Visible {
		if !filepath.IsAbs(v) {
			return p, nil, fmt.Errorf("-ro %s: not an absolute path", v)
		}
	}
	for _, h := range p.Hidden {
		if !filepath.IsAbs(h) || filepath.Clean(h) == "/" {
			return p, nil, fmt.Errorf("-hide %s: want an absolute path below /", h)
		}
	}
	if p.Dir == "" && len(p.Writable) > 0 {
		p.Dir = p.Writable[0]
	}
	return p, fs.Args(), nil
}

// Report is what the helper saw of the code it ran.
type Report struct {
	UID      int      `json:"uid"`
	Exit     int      `json:"exit"`              // its exit status, 128+n after signal n
	Signal   string   `json:"signal,omitempty"`  // the signal that ended it
	CPU      float64  `json:"cpu_seconds"`       // CPU time it used
	MaxProcs int      `json:"max_procs"`         // the most processes it had at once
	Left     []string `json:"left,omitempty"`    // processes it started still running when it ended, killed: "pid: command line"
	Outside  []string `json:"outside,omitempty"` // files it wrote in the traps (outside its directories)
	Full     []string `json:"full,omitempty"`    // its directories it filled up
	Stopped  bool     `json:"stopped"`           // it had to be stopped (SIGTERM, then killed)
	Bomb     bool     `json:"bomb"`              // it reached its process limit, and was killed for it
	Wall     float64  `json:"wall_seconds"`      // how long it ran
	// Busiest is how long the busiest of its processes was runnable (on a
	// CPU or queued for one), as sampled: about Wall for a process that
	// loops, however busy the machine, where its CPU time is only its share.
	Busiest float64 `json:"busiest_runnable_seconds"`
	Limits  Limits  `json:"limits"`
}

// Events names what the code did that the sandbox had to contain: none for
// code that kept to itself.
func (r Report) Events() []string {
	var ev []string
	if r.Bomb {
		ev = append(ev, fmt.Sprintf("forked until its process limit (%d processes): every process it forked killed", r.Limits.Procs))
	}
	if len(r.Left) > 0 {
		ev = append(ev, fmt.Sprintf("left %d processes running when it ended: killed (%s)", len(r.Left), strings.Join(r.Left, "; ")))
	}
	switch {
	case r.Signal == "SIGXCPU", r.Signal == "SIGKILL" && r.CPU >= r.Limits.CPU.Seconds():
		ev = append(ev, fmt.Sprintf("ran into its CPU time limit (%s): stopped", r.Limits.CPU))
	case r.Signal == "SIGXFSZ":
		ev = append(ev, fmt.Sprintf("wrote a file past the size limit (%d MiB): stopped", r.Limits.FileSize>>20))
	case r.Stopped && (r.CPU >= 1 || r.Wall >= 1 && r.Busiest >= r.Wall/2):
		// A program that waits for a client is runnable for milliseconds.
		ev = append(ev, fmt.Sprintf("kept a CPU busy (runnable %.1f s of %.1f s, %.1f s of CPU time) until it was stopped: loops forever?", r.Busiest, r.Wall, r.CPU))
	}
	for _, f := range r.Outside {
		ev = append(ev, "wrote outside its directory: "+f+" (kept in a private trap)")
	}
	for _, d := range r.Full {
		ev = append(ev, "filled the disk of its directory "+d)
	}
	return ev
}

// ReadReport reads the report the helper wrote to path.
func ReadReport(path string) (Report, error) {
	var r Report
	b, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("sandbox report: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("sandbox report %s: %w", path, err)
	}
	return r, nil
}

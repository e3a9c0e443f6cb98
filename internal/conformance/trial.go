package conformance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/sandbox"
	"github.com/isolab/isolab/internal/shm"
)

// envRun is one environment of a Run.
type envRun struct {
	*runner
	env  string
	sess *Session

	// The slowest server to be ready, and which: a figure of how busy the
	// machine was (the waits follow progress, not a clock).
	slowest    time.Duration
	slowestWho string
}

// row makes a row of this environment.
func (e *envRun) row(server, client, check string, o Outcome, detail string) Row {
	return Row{Env: e.env, Server: server, Client: client, Check: check, Outcome: o, Detail: detail}
}

// trial is the files, keys, processes and endpoints of one trial: a cell of
// the cross matrix, or a probe.
type trial struct {
	e    *envRun
	name string
	dir  string // under the session's directory
	info string // the info directory the client reads

	keys    map[shm.Key]string // every key of the trial, and whose it is
	servers []*srv
	clients []*runenv.Process

	// A trial with code that is not isolab's runs all of its programs in
	// the sandbox, as one fresh uid: they work together as one user's
	// would, and nothing else shares the uid. The canary of the uid tells
	// a kill(-1); reports holds each host process's sandbox report.
	uid     int
	canary  *sandbox.Canary
	reports map[string]string // who -> report file
	fakeIDs []int             // segments the harness made itself
	closers []func()          // the harness's endpoints
}

// srv is one server of a trial.
type srv struct {
	name            string
	side            side
	file            string // its info file
	key             shm.Key
	shmMsg, sockMsg string

	proc     runenv.Server
	startErr error // it did not start, or exited before writing its info file
	killed   bool  // it had to be signalled: it was still running well after its client
	// stopped says the harness stopped it at the end of its trial, as a
	// shutdown would (where no client can reach it, nothing else ends its
	// wait): its exit by SIGTERM and the files it had no time to remove are
	// the harness's doing, not its own; stopErr says it did not stop.
	stopped bool
	stopErr error
}

// newTrial prepares a trial; sandboxed when code that is not isolab's is
// in it.
func (e *envRun) newTrial(name string, sandboxed bool) (*trial, error) {
	sc := &trial{e: e, name: name, dir: filepath.Join(e.sess.dir, name), keys: map[shm.Key]string{}, reports: map[string]string{}}
	if sandboxed {
		sc.uid = sandbox.NewUID()
		c, err := sandbox.StartCanary(e.helper, sc.uid)
		if err != nil {
			return nil, err
		}
		sc.canary = c
	}
	sc.info = filepath.Join(sc.dir, "info")
	if err := os.MkdirAll(filepath.Join(sc.dir, "shm"), 0o755); err != nil {
		return nil, err
	}
	// Programs in the sandbox run as a uid of their own: they write their
	// info files and their working files here.
	for _, d := range []string{sc.dir, sc.info} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(d, 0o777|os.ModeSticky); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

func (sc *trial) log(name string) string {
	return filepath.Join(sc.e.logs, sc.e.env+"-"+sc.name+"-"+name+".log")
}

// shmPath makes an ftok pathname and proj_id whose key no other segment and no
// other trial of the run uses (ftok keeps only 16 bits of the inode).
func (sc *trial) shmPath(label, whose string) (string, int, shm.Key, error) {
	for i := 0; i < 50; i++ {
		name := label
		if i > 0 {
			name += "-" + strconv.Itoa(i)
		}
		path := filepath.Join(sc.dir, "shm", name)
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			return "", 0, 0, err
		}
		proj := sc.e.nextProjID()
		key, err := shm.Ftok(path, proj)
		if err != nil {
			return "", 0, 0, err
		}
		if sc.e.claimKey(key) {
			sc.keys[key] = whose
			return path, proj, key, nil
		}
		os.Remove(path)
	}
	return "", 0, 0, fmt.Errorf("no free shared-memory key for %s after 50 tries", label)
}

func (r *runner) nextProjID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.projID = r.projID%254 + 1 // 1..254: low 8 bits never 0
	return r.projID
}

// claimKey reserves key for the run when no segment has it.
func (r *runner) claimKey(key shm.Key) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys[key] {
		return false
	}
	if _, err := shm.Lookup(key); err == nil {
		return false
	}
	r.keys[key] = true
	return true
}

// Ports for servers come from below Linux's ephemeral range (32768 up), as
// the lab's do (scenario.DefaultPortBase): a port from that range, free
// when it was handed out, could be taken by a connect's own end or a
// listener on port 0 before the server binds it, and under load it was.
// Each run starts at a random place, so that runs sharing a namespace (the
// tests) seldom meet; a port something holds is passed over.
const portBase, portSpan = 20000, 12000

// port returns a TCP port on 127.0.0.1, where the client runs, that no other
// trial of the run uses and nothing holds now.
func (sc *trial) port() (int, error) {
	for range 100 {
		sc.e.mu.Lock()
		if sc.e.nextPort == 0 {
			sc.e.nextPort = portBase + rand.IntN(portSpan)
		}
		port := sc.e.nextPort
		sc.e.nextPort = portBase + (port-portBase+1)%portSpan
		taken := sc.e.ports[port]
		sc.e.ports[port] = true
		sc.e.mu.Unlock()
		if taken {
			continue
		}
		err := sc.e.sess.Do(func() error {
			l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				l.Close()
			}
			return err
		})
		if err == nil {
			return port, nil
		}
	}
	return 0, errors.New("no free port after 100 tries")
}

// startServer starts one server of side s with its own ftok pathname.
func (sc *trial) startServer(ctx context.Context, s side, name, shmMsg, sockMsg string) *srv {
	whose := name + " (" + s.name + " server)"
	if !sc.e.sess.Shm { // the server's segment is in its own IPC namespace
		whose = name + " (no segment on the host: the client made it)"
	}
	path, proj, key, err := sc.shmPath(name, whose)
	if err != nil {
		v := &srv{name: name, side: s, startErr: err}
		sc.servers = append(sc.servers, v)
		return v
	}
	return sc.startServerAt(ctx, s, name, path, proj, key, sc.info, shmMsg, sockMsg, sc.uid)
}

// startServerAt starts a server of side s on a given ftok pathname and info
// directory, in the sandbox as uid unless uid is 0.
func (sc *trial) startServerAt(ctx context.Context, s side, name, path string, proj int, key shm.Key, infoDir, shmMsg, sockMsg string, uid int) *srv {
	v := &srv{name: name, side: s, file: filepath.Join(infoDir, name), key: key, shmMsg: shmMsg, sockMsg: sockMsg}
	sc.servers = append(sc.servers, v)
	port, err := sc.port()
	if err != nil {
		v.startErr = err
		return v
	}
	if s.server == "" {
		v.startErr = errNotBuilt
		return v
	}
	spec := ServerSpec{
		Name: s.name + " server " + name,
		Bin:  s.server,
		Args: []string{
			"-port", strconv.Itoa(port), "-shm-path", path, "-proj-id", strconv.Itoa(proj),
			"-info-dir", infoDir, "-info-name", name, "-shm-msg", shmMsg, "-socket-msg", sockMsg,
			"-accept-timeout", acceptTimeout,
		},
		Log:       sc.log(s.name + "-server-" + name),
		Untrusted: s.untrusted,
		UID:       uid,
		Dir:       sc.dir,
	}
	if uid != 0 && (sc.e.sess.Kind == runenv.Host || sc.e.sess.Kind == runenv.Apptainer) { // the sandbox's helper runs it
		spec.Report = sc.report(spec.Name)
	}
	if v.proc, err = sc.e.sess.StartServer(ctx, spec); err != nil {
		v.startErr, v.proc = err, nil
	}
	return v
}

// report is where the sandbox of the trial's program who reports.
func (sc *trial) report(who string) string {
	p := filepath.Join(sc.e.sess.reports, fmt.Sprintf("%s-%d.json", sc.name, len(sc.reports)))
	sc.reports[who] = p
	return p
}

// errNotBuilt is why a side's program did not run: its build failed, as a
// row of the build says.
var errNotBuilt = errors.New("it did not build (see the build's rows)")

// waitReady waits until every started server has written its info file,
// while it makes progress (runenv.WaitInfo).
func (sc *trial) waitReady(ctx context.Context, servers ...*srv) {
	var wg sync.WaitGroup
	start := time.Now()
	for _, s := range servers {
		if s.proc != nil {
			wg.Go(func() {
				if _, err := runenv.WaitInfo(ctx, s.proc, s.file, 0); err != nil {
					s.startErr = err
					return
				}
				sc.e.sawReady(sc.name+" "+s.name, time.Since(start))
			})
		}
	}
	wg.Wait()
}

// sawReady records how long a server took to be ready, for the slowest.
func (e *envRun) sawReady(who string, took time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if took > e.slowest {
		e.slowest, e.slowestWho = took, who
	}
}

func lastLine(s string) string {
	ls := lines(s)
	if len(ls) == 0 {
		return "(nothing on stderr)"
	}
	return trunc(ls[len(ls)-1], 160)
}

// clientRun is what a client did.
type clientRun struct {
	stdout, stderr string
	code           int
	killed         bool // still running at the deadline
	took           time.Duration
	err            error // it could not be started
}

// runClient runs side c's client on the trial's info directory, where the
// client on the host runs, and kills it at the deadline.
func (sc *trial) runClient(ctx context.Context, c side, deadline time.Duration) clientRun {
	if c.client == "" {
		return clientRun{err: fmt.Errorf("%s client: %w", c.name, errNotBuilt), code: -1}
	}
	who := c.name + " client"
	var report string
	if sc.uid != 0 {
		report = sc.report(who)
	}
	p, err := sc.e.sess.StartClient(ctx, who, []string{c.client, sc.info}, sc.log(c.name+"-client"), sc.uid, sc.dir, report)
	if err != nil {
		return clientRun{err: fmt.Errorf("start %s client: %w", c.name, err), code: -1}
	}
	sc.clients = append(sc.clients, p)
	start := time.Now()
	var res clientRun
	select {
	case <-p.Done():
	case <-time.After(deadline):
		p.Stop(time.Second)
		res.killed = true
	case <-ctx.Done():
		p.Kill()
	}
	res.took = time.Since(start)
	res.stdout, res.stderr, res.code = p.Stdout(), p.Output(), p.ExitCode()
	return res
}

// finish waits for the servers to exit after the client is done. One still
// running after a while gets its message taken by the harness (its client
// never came), and then the signals. Where the client reaches neither channel
// of a server (the VM), nothing can end its wait: it is stopped at once, as a
// shutdown stops it (SIGTERM), and must then exit, 0 or by the SIGTERM.
func (sc *trial) finish(ctx context.Context, servers ...*srv) {
	if !sc.e.sess.Shm && !sc.e.sess.Socket {
		var wg sync.WaitGroup
		for _, s := range servers {
			if s.proc != nil {
				wg.Go(func() {
					_, s.stopErr = s.proc.Stop(stopGrace)
					s.stopped = true
				})
			}
		}
		wg.Wait()
		return
	}
	wait := func(d time.Duration) (running []*srv) {
		deadline := time.Now().Add(d)
		for _, s := range servers {
			if s.proc == nil {
				continue
			}
			select {
			case <-s.proc.Done():
			case <-time.After(time.Until(deadline)):
			case <-ctx.Done():
			}
		}
		for _, s := range servers {
			if s.proc != nil && !exited(s.proc) {
				running = append(running, s)
			}
		}
		return running
	}
	for _, s := range wait(exitAfter) {
		sc.drain(s)
	}
	for _, s := range wait(exitDrained) {
		s.proc.Stop(3 * time.Second)
		s.killed = true
	}
}

// drain takes a waiting server's messages as a client would, so that it can
// finish.
func (sc *trial) drain(s *srv) {
	if info, err := infofile.Read(s.file); err == nil && sc.e.sess.Socket {
		if c, err := sc.dial(info, 2*time.Second); err == nil {
			readMessage(c, time.Second, 200*time.Millisecond)
			c.Close()
		}
	}
	if sc.e.sess.Shm {
		shm.Read(s.key)
	}
}

// leaks lists the segments of the trial's keys and the files in its info
// directory that remain, and removes them. What a server the harness
// stopped left (it stopped as told: see stoppedCleanly) is not its leak.
func (sc *trial) leaks() []string {
	excused := map[string]bool{}
	excusedKeys := map[shm.Key]bool{}
	for _, s := range sc.servers {
		if s.stoppedCleanly() {
			excused[filepath.Base(s.file)] = true
			excusedKeys[s.key] = true
		}
	}
	var found []string
	for key, whose := range sc.keys {
		id, err := shm.Lookup(key)
		if err != nil {
			continue
		}
		if !excusedKeys[key] {
			found = append(found, fmt.Sprintf("segment %s of %s", key, whose))
		}
		shm.Remove(id)
	}
	for _, name := range infofile.Clear(sc.info) {
		if !excused[name] {
			found = append(found, "info file "+name)
		}
	}
	slices.Sort(found)
	return found
}

// stopGrace is how long a server the harness stops gets after SIGTERM (a
// guest's server: what its guest gives it).
const stopGrace = 3 * time.Second

// sigterm is the exit status of a process that SIGTERM ended.
const sigterm = 128 + 15

// stoppedCleanly reports whether the harness stopped s and it stopped as
// told: exit 0 (it handled SIGTERM) or by SIGTERM itself (a C++ program
// without a handler), within its grace.
func (s *srv) stoppedCleanly() bool {
	if !s.stopped || s.stopErr != nil || s.proc == nil {
		return false
	}
	code := s.proc.ExitCode()
	return code == 0 || code == sigterm
}

// sandboxed is the row of CheckSandbox for a trial in the sandbox: what
// each program did that the sandbox had to stop, as its report says; a
// kill(-1), which the uid's canary tells; and what the uid left on the
// machine. blame names the code that is not isolab's. A trial of isolab's
// alone has no row.
func (sc *trial) sandboxed(server, client, blame string) []Row {
	if sc.uid == 0 {
		return nil
	}
	var events []string
	for _, who := range slices.Sorted(maps.Keys(sc.reports)) {
		if rep, err := sandbox.ReadReport(sc.reports[who]); err == nil {
			for _, e := range rep.Events() {
				events = append(events, who+": "+e)
			}
		}
	}
	if sc.canary.Killed() {
		events = append(events, blame+": signalled every process it could reach (kill(-1)?): only its trial's were there")
	}
	sc.canary.Stop() // before the uid's sweep counts what is left
	for _, e := range sandbox.Clean(sc.e.helper, sc.uid) {
		events = append(events, blame+": "+e)
	}
	o, d := outcomeOf(events)
	return []Row{sc.e.row(server, client, CheckSandbox, o, d)}
}

// close ends whatever still runs and removes the trial's files and
// segments; a trial's checks are made before.
func (sc *trial) close() {
	for _, p := range sc.clients {
		p.Kill()
	}
	for _, s := range sc.servers {
		if s.proc != nil {
			s.proc.Kill()
		}
	}
	sc.stopFakes()
	sc.leaks()
	if sc.uid != 0 {
		sc.canary.Stop()
		sandbox.Clean(sc.e.helper, sc.uid)
	}
	os.RemoveAll(sc.dir)
}

func exited(p runenv.Server) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// exits describes the processes that did not exit 0 on their own.
func exits(c *clientRun, servers []*srv) []string {
	var bad []string
	for _, s := range servers {
		who := s.side.name + " server " + s.name
		switch {
		case s.startErr != nil:
			bad = append(bad, who+": "+s.startErr.Error())
		case s.proc == nil:
		case s.stopped && !s.stoppedCleanly():
			bad = append(bad, fmt.Sprintf("%s was told to stop (SIGTERM) at the end of the trial and did not: exit %d%s", who, s.proc.ExitCode(), errText(s.stopErr)))
		case s.stopped: // the harness's doing
		case s.killed:
			bad = append(bad, fmt.Sprintf("%s still running %s after its client, killed", who, exitAfter+exitDrained))
		case s.proc.ExitCode() != 0:
			bad = append(bad, fmt.Sprintf("%s exited %d: %s", who, s.proc.ExitCode(), lastLine(s.proc.Output())))
		}
	}
	if c != nil {
		switch {
		case c.err != nil:
			bad = append(bad, c.err.Error())
		case c.killed:
			bad = append(bad, fmt.Sprintf("client still running after %s, killed", c.took.Round(time.Second)))
		case c.code != 0:
			bad = append(bad, fmt.Sprintf("client exited %d: %s", c.code, lastLine(c.stderr)))
		}
	}
	return bad
}

// errText is ": err", or "" for no error.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

func outcomeOf(problems []string) (Outcome, string) {
	if len(problems) == 0 {
		return Pass, ""
	}
	return Fail, strings.Join(problems, "; ")
}

package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/report"
	"github.com/isolab/isolab/internal/shell"
	"github.com/isolab/isolab/internal/shm"
)

// allRows gives every check the same outcome (a scenario that could not run).
func (e *envRun) allRows(server, client string, checks []string, o Outcome, detail string) []Row {
	rows := make([]Row, len(checks))
	for i, c := range checks {
		rows[i] = e.row(server, client, c, o, detail)
	}
	return rows
}

func harnessError(err error) string { return "harness: " + err.Error() }

// blame names the code of a cell that is not isolab's.
func blame(s, c side) string {
	switch {
	case s.untrusted && c.untrusted && s.name == c.name:
		return s.name
	case s.untrusted && c.untrusted:
		return s.name + " server or " + c.name + " client"
	case s.untrusted:
		return s.name + " server"
	}
	return c.name + " client"
}

// unbuilt says which program of a trial did not build, or "".
func unbuilt(s, c *side) string {
	switch {
	case s != nil && s.server == "":
		return s.name + "'s server did not build (see the build's rows)"
	case c != nil && c.client == "":
		return c.name + "'s client did not build (see the build's rows)"
	}
	return ""
}

// trialSpec names a trial and what its rows are about.
type trialSpec struct {
	name           string   // its files and logs are named after it
	server, client string   // its rows'
	checks         []string // the checks it makes, for the rows of a trial that cannot run
	untrusted      bool     // code that is not isolab's runs in it: in the sandbox
	blame          string   // names that code, in its sandbox row
	unbuilt        string   // why it cannot run: a program of it did not build
}

// runTrial runs one trial with f: every check is skipped when a program of
// it did not build, and fails when the harness cannot prepare it. The
// trial's sandbox row follows f's rows, then a progress line.
func (e *envRun) runTrial(t trialSpec, f func(sc *trial) []Row) []Row {
	if t.unbuilt != "" {
		return e.allRows(t.server, t.client, t.checks, Skip, t.unbuilt)
	}
	start := time.Now()
	sc, err := e.newTrial(t.name, t.untrusted)
	if err != nil {
		return e.allRows(t.server, t.client, t.checks, Fail, harnessError(err))
	}
	defer sc.close()
	rows := append(f(sc), sc.sandboxed(t.server, t.client, t.blame)...)
	e.logf("%s: %s (%s)", e.env, sc.name, time.Since(start).Round(10*time.Millisecond))
	return rows
}

// cell runs one cell of the cross matrix: two servers of side s in the
// environment, plus three of the harness's endpoints on the client's side (one
// reached by shared memory only, one by its socket only, one by neither), so
// that every class occurs; then side c's client reads the info directory.
func (e *envRun) cell(ctx context.Context, s, c side) []Row {
	t := trialSpec{name: "cell-" + s.name + "-server-" + c.name + "-client", server: s.name, client: c.name,
		checks:    []string{CheckFiveLines, CheckCounts, CheckExits, CheckLeaks},
		untrusted: s.untrusted || c.untrusted, blame: blame(s, c), unbuilt: unbuilt(&s, &c)}
	return e.runTrial(t, func(sc *trial) []Row {
		servers := []*srv{
			sc.startServer(ctx, s, "s1", "s1shm", "s1sock"),
			sc.startServer(ctx, s, "s2", "s2shm", "s2sock"),
		}
		err := errors.Join(
			sc.fakeShmOnly("x1-shm-only", "xshm"),
			sc.fakeSockOnly("x2-socket-only", "xsock"),
			sc.fakeNone("x3-no-server"),
		)
		if err != nil {
			return e.allRows(s.name, c.name, t.checks, Fail, harnessError(err))
		}
		sc.waitReady(ctx, servers...)
		held := sc.infoFiles() // what the client is given, should its report be short
		cl := sc.runClient(ctx, c, cellDeadline)
		sc.finish(ctx, servers...)
		sc.stopFakes()
		leaks := sc.leaks()

		row := func(check string, o Outcome, detail string) Row { return e.row(s.name, c.name, check, o, detail) }
		var rows []Row
		switch d := compareReport(e.expected(servers), cl.stdout); {
		case cl.err != nil:
			rows = append(rows, row(CheckFiveLines, Fail, cl.err.Error()))
		case d != "":
			if cl.killed {
				d = fmt.Sprintf("killed after %s; %s", cl.took.Round(time.Second), d)
			}
			d += "; when it started, the info directory held " + held
			if tail := strings.TrimSpace(shell.Tail(cl.stderr, 3)); tail != "" {
				d += "; it printed on stderr: " + strings.Join(strings.Fields(tail), " ")
			}
			rows = append(rows, row(CheckFiveLines, Fail, d))
		default:
			rows = append(rows, row(CheckFiveLines, Pass, ""))
		}
		o, d := countsCheck(cl.stdout)
		rows = append(rows, row(CheckCounts, o, d))
		o, d = outcomeOf(exits(&cl, servers))
		rows = append(rows, row(CheckExits, o, d))
		o, d = outcomeOf(leaks)
		return append(rows, row(CheckLeaks, o, d))
	})
}

// expected is the report of a cell: the servers, of this environment's class,
// then the harness's three endpoints, in file-name order.
func (e *envRun) expected(servers []*srv) report.Report {
	r := report.Report{Messages: []string{}}
	class := report.Classify(e.sess.Shm, e.sess.Socket)
	for _, s := range servers {
		r.Add(class)
		if e.sess.Shm {
			r.Messages = append(r.Messages, s.shmMsg)
		}
		if e.sess.Socket {
			r.Messages = append(r.Messages, s.sockMsg)
		}
	}
	r.Add(report.Container)
	r.Messages = append(r.Messages, "xshm")
	r.Add(report.Container)
	r.Messages = append(r.Messages, "xsock")
	r.Add(report.VM)
	return r
}

// lateProbe checks one server of side s as a late client: connect, read the
// socket message and wait for EOF, then attach the segment a second later.
func (e *envRun) lateProbe(ctx context.Context, s side) []Row {
	const client = "probe"
	checks := []string{CheckSocketClosed, CheckLateAttach, CheckMessages, CheckExits, CheckLeaks}
	if !e.sess.Socket {
		return e.allRows(s.name, client, checks, Skip, noSock)
	}
	t := trialSpec{name: "late-" + s.name + "-server", server: s.name, client: client, checks: checks,
		untrusted: s.untrusted, blame: s.name + " server", unbuilt: unbuilt(&s, nil)}
	return e.runTrial(t, func(sc *trial) []Row {
		v := sc.startServer(ctx, s, "p1", "p1shm", "p1sock")
		sc.waitReady(ctx, v)
		row := func(check string, o Outcome, detail string) Row { return e.row(s.name, client, check, o, detail) }
		var rows []Row
		if v.startErr != nil {
			rows = append(rows,
				row(CheckSocketClosed, Skip, "the server did not start"),
				row(CheckLateAttach, Skip, "the server did not start"),
				row(CheckMessages, Skip, "the server did not start"))
		} else {
			rows = e.lateRead(ctx, sc, v, row)
		}
		sc.finish(ctx, v)
		o, d := outcomeOf(exits(nil, []*srv{v}))
		rows = append(rows, row(CheckExits, o, d))
		o, d = outcomeOf(sc.leaks())
		return append(rows, row(CheckLeaks, o, d))
	})
}

func (e *envRun) lateRead(ctx context.Context, sc *trial, v *srv, row func(string, Outcome, string) Row) []Row {
	info, err := infofile.Read(v.file)
	if err != nil {
		return []Row{
			row(CheckSocketClosed, Fail, "its info file: "+err.Error()),
			row(CheckLateAttach, Skip, "no info file"),
			row(CheckMessages, Skip, "no info file"),
		}
	}
	conn, err := sc.dial(info, connectBound)
	if err != nil {
		return []Row{
			row(CheckSocketClosed, Fail, "connect: "+err.Error()),
			row(CheckLateAttach, Skip, "no connection"),
			row(CheckMessages, Fail, "connect: "+err.Error()),
		}
	}
	m := readMessage(conn, connectBound, eofWithin)
	conn.Close()
	var rows []Row
	switch {
	case len(m.data) == 0 && m.eof:
		rows = append(rows, row(CheckSocketClosed, Fail, "closed without sending a message"))
	case len(m.data) == 0:
		rows = append(rows, row(CheckSocketClosed, Fail, fmt.Sprintf("nothing arrived within %s", connectBound)))
	case !m.eof:
		rows = append(rows, row(CheckSocketClosed, Fail, fmt.Sprintf(
			"no EOF within %s after the message: the server keeps the connection open, so a client that reads until EOF waits for its own timeout", eofWithin)))
	default:
		rows = append(rows, row(CheckSocketClosed, Pass, ""))
	}
	var bad []string
	if string(m.data) != v.sockMsg {
		bad = append(bad, fmt.Sprintf("socket sent %q, want %q", trunc(string(m.data), 60), v.sockMsg))
	}
	if !e.sess.Shm {
		rows = append(rows, row(CheckLateAttach, Skip, noShm))
	} else {
		// A late client: it attaches a while after it is done with the socket.
		select {
		case <-time.After(lateDelay):
		case <-ctx.Done():
		}
		text, err := shm.Read(v.key)
		if err != nil {
			rows = append(rows, row(CheckLateAttach, Fail, fmt.Sprintf(
				"segment %s gone %s after the connection ended (%v): a client that attaches after reading the sockets finds nothing", v.key, lateDelay, err)))
		} else {
			rows = append(rows, row(CheckLateAttach, Pass, ""))
			if text != v.shmMsg {
				bad = append(bad, fmt.Sprintf("segment holds %q, want %q", trunc(text, 60), v.shmMsg))
			}
		}
	}
	o, d := outcomeOf(bad)
	return append(rows, row(CheckMessages, o, d))
}

// Why a probe is skipped where a client on the host reaches only one channel
// of the servers.
const (
	noShm  = "needs the server's segment, which a client on the host cannot attach here (the server has its own IPC namespace)"
	noSock = "needs the server's socket, which a client on the host cannot reach here"
)

// staleText is what a crashed earlier run leaves in the segment.
var staleText = strings.Repeat("LEFT-BY-A-CRASHED-RUN-", 8)

// staleProbe checks that a server of side s ends its shared-memory message
// with a NUL. A fresh segment is all zeros, so a missing NUL shows only over
// old content: an earlier isolab server on the same ftok key, killed with
// SIGKILL after writing a long message, leaves its segment behind (creator
// gone, nobody attached), as a crash would. The server under test then writes
// a short message into it, and the harness reads the segment.
func (e *envRun) staleProbe(ctx context.Context, s side) []Row {
	const client = "probe"
	switch {
	case !e.sess.Shm:
		return []Row{e.row(s.name, client, CheckNUL, Skip, noShm)}
	case !e.sess.Socket:
		return []Row{e.row(s.name, client, CheckNUL, Skip, noSock)}
	}
	t := trialSpec{name: "stale-" + s.name + "-server", server: s.name, client: client, checks: []string{CheckNUL},
		untrusted: s.untrusted, blame: s.name + " server", unbuilt: unbuilt(&s, nil)}
	return e.runTrial(t, func(sc *trial) []Row {
		o, d := e.stale(ctx, sc, s)
		return []Row{e.row(s.name, client, CheckNUL, o, d)}
	})
}

// stale leaves a crashed run's segment on a key, starts side s's server
// on the same key and reads what it wrote.
func (e *envRun) stale(ctx context.Context, sc *trial, s side) (Outcome, string) {
	path, proj, key, err := sc.shmPath("p2", "p2")
	if err != nil {
		return Fail, harnessError(err)
	}
	crashedInfo := filepath.Join(sc.dir, "crashed")
	if err := errors.Join(os.MkdirAll(crashedInfo, 0o755), os.Chmod(crashedInfo, 0o777|os.ModeSticky)); err != nil {
		return Fail, harnessError(err)
	}
	// isolab's, as this process's child: it is gone (not a zombie) once
	// killed, as a crashed server is by its next start.
	crashed := sc.startServerAt(ctx, e.sides[0], "p2", path, proj, key, crashedInfo, staleText, "crashed", 0)
	sc.waitReady(ctx, crashed)
	if crashed.startErr != nil {
		return Skip, fmt.Sprintf("could not leave a stale segment: %v", crashed.startErr)
	}
	crashed.proc.Kill()
	os.RemoveAll(crashedInfo)
	id, err := shm.Lookup(key)
	if err != nil {
		return Skip, fmt.Sprintf("could not leave a stale segment: %v", err)
	}
	if sc.uid != 0 { // left by the same user as the server under test
		if err := shm.Chown(id, sc.uid, sc.uid); err != nil {
			return Fail, harnessError(err)
		}
	}

	v := sc.startServerAt(ctx, s, "p2", path, proj, key, sc.info, "p2shm", "p2sock", sc.uid)
	sc.waitReady(ctx, v)
	if v.startErr != nil {
		return Skip, fmt.Sprintf("the server did not start over the segment a crashed run left (%v): cannot tell", v.startErr)
	}
	text, serr := shm.Read(key)
	sc.drain(v) // let it finish
	sc.finish(ctx, v)
	switch {
	case serr != nil:
		return Fail, fmt.Sprintf("could not read segment %s: %v", key, serr)
	case text == v.shmMsg:
		return Pass, ""
	case strings.HasPrefix(text, v.shmMsg):
		return Fail, fmt.Sprintf("read %q over an earlier run's segment: no NUL after the message, so a reader sees what was there before", trunc(text, 40))
	}
	return Fail, fmt.Sprintf("read %q, want %q", trunc(text, 40), v.shmMsg)
}

// hangProbe runs side c's client against one server whose connect hangs.
func (e *envRun) hangProbe(ctx context.Context, c side) []Row {
	const server = "hang"
	t := trialSpec{name: "hang-" + c.name + "-client", server: server, client: c.name,
		checks:    []string{CheckConnectBound, CheckLeaks},
		untrusted: c.untrusted, blame: c.name + " client", unbuilt: unbuilt(nil, &c)}
	return e.runTrial(t, func(sc *trial) []Row {
		if err := sc.fakeHang("h1"); err != nil {
			return e.allRows(server, c.name, t.checks, Fail, harnessError(err))
		}
		bound := connectBound + connectSlack
		cl := sc.runClient(ctx, c, bound)
		sc.stopFakes()
		row := func(check string, o Outcome, detail string) Row { return e.row(server, c.name, check, o, detail) }
		var rows []Row
		switch {
		case cl.err != nil:
			rows = append(rows, row(CheckConnectBound, Fail, cl.err.Error()))
		case cl.killed:
			rows = append(rows, row(CheckConnectBound, Fail, fmt.Sprintf(
				"still running %s after it started, killed: its connect to a server whose SYNs go unanswered is not bounded (select before a blocking connect bounds nothing)", bound)))
		default:
			d := fmt.Sprintf("finished in %s", cl.took.Round(100*time.Millisecond))
			if cl.code != 0 {
				d += fmt.Sprintf(", exit %d: %s", cl.code, lastLine(cl.stderr))
			}
			rows = append(rows, row(CheckConnectBound, Pass, d))
		}
		o, d := outcomeOf(sc.leaks())
		return append(rows, row(CheckLeaks, o, d))
	})
}

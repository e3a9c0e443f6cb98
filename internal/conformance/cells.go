package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isolab/isolab/internal/report"
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

// cell runs one cell of the cross matrix: two servers of side s in the
// environment, plus three of the harness's endpoints on the client's side (one
// reached by shared memory only, one by its socket only, one by neither), so
// that every class occurs; then side c's client reads the info directory.
func (e *envRun) cell(ctx context.Context, s, c side) []Row {
	checks := []string{CheckFiveLines, CheckCounts, CheckExits, CheckLeaks}
	start := time.Now()
	sc, err := e.newTrial("cell-" + s.name + "-server-" + c.name + "-client")
	if err != nil {
		return e.allRows(s.name, c.name, checks, Fail, harnessError(err))
	}
	defer sc.close()
	servers := []*srv{
		sc.startServer(ctx, s, "s1", "s1shm", "s1sock"),
		sc.startServer(ctx, s, "s2", "s2shm", "s2sock"),
	}
	err = errors.Join(
		sc.fakeShmOnly("x1-shm-only", "xshm"),
		sc.fakeSockOnly("x2-socket-only", "xsock"),
		sc.fakeNone("x3-no-server"),
	)
	if err != nil {
		return e.allRows(s.name, c.name, checks, Fail, harnessError(err))
	}
	sc.waitReady(ctx, servers...)
	cl := sc.runClient(ctx, c, cellDeadline)
	sc.finish(ctx, servers...)
	sc.stopFakes()
	leaks := sc.leaks()

	want := e.expected(servers)
	var rows []Row
	switch d := compareReport(want, cl.stdout); {
	case cl.err != nil:
		rows = append(rows, e.row(s.name, c.name, CheckFiveLines, Fail, cl.err.Error()))
	case d != "":
		if cl.killed {
			d = fmt.Sprintf("killed after %s; %s", cl.took.Round(time.Second), d)
		}
		rows = append(rows, e.row(s.name, c.name, CheckFiveLines, Fail, d))
	default:
		rows = append(rows, e.row(s.name, c.name, CheckFiveLines, Pass, ""))
	}
	o, d := countsCheck(cl.stdout)
	rows = append(rows, e.row(s.name, c.name, CheckCounts, o, d))
	o, d = outcomeOf(exits(&cl, servers))
	rows = append(rows, e.row(s.name, c.name, CheckExits, o, d))
	o, d = outcomeOf(leaks)
	rows = append(rows, e.row(s.name, c.name, CheckLeaks, o, d))
	e.logf("%s: %s (%s)", e.env, sc.name, time.Since(start).Round(10*time.Millisecond))
	return rows
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
	start := time.Now()
	sc, err := e.newTrial("late-" + s.name + "-server")
	if err != nil {
		return e.allRows(s.name, client, checks, Fail, harnessError(err))
	}
	defer sc.close()
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
	rows = append(rows, row(CheckLeaks, o, d))
	e.logf("%s: %s (%s)", e.env, sc.name, time.Since(start).Round(10*time.Millisecond))
	return rows
}

func (e *envRun) lateRead(ctx context.Context, sc *trial, v *srv, row func(string, Outcome, string) Row) []Row {
	info, err := readInfo(v.file)
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
		text, err := readSegment(v.key)
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
	start := time.Now()
	row := func(o Outcome, detail string) []Row { return []Row{e.row(s.name, client, CheckNUL, o, detail)} }
	sc, err := e.newTrial("stale-" + s.name + "-server")
	if err != nil {
		return row(Fail, harnessError(err))
	}
	defer sc.close()
	defer func() { e.logf("%s: %s (%s)", e.env, sc.name, time.Since(start).Round(10*time.Millisecond)) }()
	path, proj, key, err := sc.shmPath("p2", "p2")
	if err != nil {
		return row(Fail, harnessError(err))
	}
	crashedInfo := filepath.Join(sc.dir, "crashed")
	if err := os.MkdirAll(crashedInfo, 0o755); err != nil {
		return row(Fail, harnessError(err))
	}
	crashed := sc.startServerAt(ctx, e.sides[0], "p2", path, proj, key, crashedInfo, staleText, "crashed")
	sc.waitReady(ctx, crashed)
	if crashed.startErr != nil {
		return row(Skip, fmt.Sprintf("could not leave a stale segment: %v", crashed.startErr))
	}
	crashed.proc.Kill()
	os.RemoveAll(crashedInfo)
	if _, err := shm.Lookup(key); err != nil {
		return row(Skip, fmt.Sprintf("could not leave a stale segment: %v", err))
	}

	v := sc.startServerAt(ctx, s, "p2", path, proj, key, sc.info, "p2shm", "p2sock")
	sc.waitReady(ctx, v)
	if v.startErr != nil {
		return row(Skip, fmt.Sprintf("the server did not start over the segment a crashed run left (%v): cannot tell", v.startErr))
	}
	text, serr := readSegment(key)
	if info, err := readInfo(v.file); err == nil { // let it finish
		if c, err := sc.dial(info, connectBound); err == nil {
			readMessage(c, connectBound, 200*time.Millisecond)
			c.Close()
		}
	}
	sc.finish(ctx, v)
	switch {
	case serr != nil:
		return row(Fail, fmt.Sprintf("could not read segment %s: %v", key, serr))
	case text == v.shmMsg:
		return row(Pass, "")
	case strings.HasPrefix(text, v.shmMsg):
		return row(Fail, fmt.Sprintf("read %q over an earlier run's segment: no NUL after the message, so a reader sees what was there before",
			trunc(text, 40)))
	}
	return row(Fail, fmt.Sprintf("read %q, want %q", trunc(text, 40), v.shmMsg))
}

// hangProbe runs side c's client against one server whose connect hangs.
func (e *envRun) hangProbe(ctx context.Context, c side) []Row {
	const server = "hang"
	checks := []string{CheckConnectBound, CheckLeaks}
	start := time.Now()
	sc, err := e.newTrial("hang-" + c.name + "-client")
	if err != nil {
		return e.allRows(server, c.name, checks, Fail, harnessError(err))
	}
	defer sc.close()
	if err := sc.fakeHang("h1"); err != nil {
		return e.allRows(server, c.name, checks, Fail, harnessError(err))
	}
	bound := connectBound + connectSlack
	cl := sc.runClient(ctx, c, bound)
	sc.stopFakes()
	var rows []Row
	switch {
	case cl.err != nil:
		rows = append(rows, e.row(server, c.name, CheckConnectBound, Fail, cl.err.Error()))
	case cl.killed:
		rows = append(rows, e.row(server, c.name, CheckConnectBound, Fail, fmt.Sprintf(
			"still running %s after it started, killed: its connect to a server whose SYNs go unanswered is not bounded (select before a blocking connect bounds nothing)", bound)))
	default:
		d := fmt.Sprintf("finished in %s", cl.took.Round(100*time.Millisecond))
		if cl.code != 0 {
			d += fmt.Sprintf(", exit %d: %s", cl.code, lastLine(cl.stderr))
		}
		rows = append(rows, e.row(server, c.name, CheckConnectBound, Pass, d))
	}
	o, d := outcomeOf(sc.leaks())
	rows = append(rows, e.row(server, c.name, CheckLeaks, o, d))
	e.logf("%s: %s (%s)", e.env, sc.name, time.Since(start).Round(10*time.Millisecond))
	return rows
}

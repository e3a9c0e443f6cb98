package conformance

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/labnet/labnettest"
	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/procfs"
	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/sandbox"
	"github.com/isolab/isolab/internal/submission"
)

// packEx5 packs dirs' files into dir/name.tar, as a group hands in ex5.tar.
func packEx5(t *testing.T, dir, name string, dirs ...string) string {
	t.Helper()
	path := filepath.Join(dir, name+".tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	defer tw.Close()
	for _, d := range dirs {
		des, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range des {
			b, err := os.ReadFile(filepath.Join(d, de.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if de.Name() == "README.md" {
				continue // the Makefile's own; the submission brings its README
			}
			tw.WriteHeader(&tar.Header{Name: de.Name(), Mode: 0o644, Size: int64(len(b))})
			tw.Write(b)
		}
	}
	for n, body := range map[string]string{"README": "group 7\n", "ANSWERS.txt": "1. ...\n"} {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	return path
}

// failed lists the FAIL rows of t but the build's, as (env, server, client,
// check).
func failed(t *Table) []string {
	var out []string
	for _, r := range t.Failed() {
		if r.Env != "build" {
			out = append(out, fmt.Sprintf("%s/%s/%s/%s", r.Env, r.Server, r.Client, r.Check))
		}
	}
	slices.Sort(out)
	return out
}

// ex5.tar of flawed-server with the course's Makefile finds exactly what
// the directory of its sources finds.
func TestIntegrationTarball(t *testing.T) {
	needCXX(t)
	net := labnettest.New(t, false)
	leakcheck.Check(t)
	build(t)
	tarball := packEx5(t, t.TempDir(), "X", testdata("flawed-server"), testdata("course-makefile"))
	var tables [2]*Table
	var wg sync.WaitGroup
	for i, impl := range []string{testdata("flawed-server"), tarball} {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			tab, err := Run(ctx, Options{Root: root, Impl: impl, WorkDir: t.TempDir(), OurServer: shared.server, OurClient: shared.client,
				Envs: []runenv.Kind{runenv.Host}, Net: net, Logf: t.Logf})
			if err != nil {
				t.Errorf("Run(%s): %v", impl, err)
			}
			tables[i] = tab
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if tables[1].From != "make" {
		t.Errorf("the tarball was built from %s, want make", tables[1].From)
	}
	for _, r := range tables[1].Rows {
		if r.Env == "build" && r.Outcome != Pass {
			t.Errorf("the tarball's build: %s: %s %s", r.Check, r.Outcome, r.Detail)
		}
	}
	dir, tar := failed(tables[0]), failed(tables[1])
	if !slices.Equal(dir, tar) || len(dir) == 0 {
		t.Errorf("the directory's failures %q, the tarball's %q: want the same, and some", dir, tar)
		for i, tab := range tables {
			for _, r := range tab.Failed() {
				t.Logf("run %d: %s %s %s %s: %s", i, r.Env, r.Server, r.Client, r.Check, r.Detail)
			}
		}
	}
}

// conformance:cross of the two flawed implementations: a 3x3 table per
// environment, each flaw on its side: flawed-client's clients misreport
// every server; flawed-server's server is reported right by every good
// client, and its own flaws are on its server's rows.
func TestIntegrationCross(t *testing.T) {
	needCXX(t)
	net := labnettest.New(t, false)
	leakcheck.Check(t)
	build(t)
	subs := t.TempDir()
	packEx5(t, subs, "flawed-server", testdata("flawed-server"), testdata("course-makefile"))
	if err := os.CopyFS(filepath.Join(subs, "flawed-client"), os.DirFS(testdata("flawed-client"))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tab, err := Cross(ctx, Options{Root: root, WorkDir: t.TempDir(), OurServer: shared.server, OurClient: shared.client,
		Envs: []runenv.Kind{runenv.Host}, Net: net, Logf: t.Logf}, subs)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	tab.Write(&out)
	t.Logf("\n%s", out.String())
	if want := []string{"isolab", "flawed-client", "flawed-server"}; !slices.Equal(tab.Sides, want) {
		t.Fatalf("sides %q, want %q", tab.Sides, want)
	}
	for _, s := range tab.Sides {
		for _, c := range tab.Sides {
			want := "ok"
			if c == "flawed-client" {
				want = "FAIL"
			}
			if got := verdict(tab, "host", s, c); got != want {
				t.Errorf("cross table: server %s, client %s = %q, want %q", s, c, got, want)
			}
		}
	}
	for _, r := range tab.Failed() {
		serverFlaw := r.Server == "flawed-server" && slices.Contains([]string{CheckLeaks, CheckSocketClosed, CheckLateAttach, CheckNUL}, r.Check) && r.Client != "flawed-client"
		clientFlaw := r.Client == "flawed-client"
		if !serverFlaw && !clientFlaw {
			t.Errorf("a failure on neither flawed side: %+v", r)
		}
	}
	for _, want := range []string{"flawed-server/probe/" + CheckNUL, "flawed-server/probe/" + CheckSocketClosed, "hang/flawed-client/" + CheckConnectBound} {
		if !slices.Contains(failed(tab), "host/"+want) {
			t.Errorf("flaw %s not reported: %q", want, failed(tab))
		}
	}
}

// conformance/testdata/hostile: every hostile act is contained and
// reported, the run ends, and afterwards nothing of it is left on the
// machine outside the run's directory; none of its code ever ran as root
// or as the grader's user.
func TestIntegrationHostile(t *testing.T) {
	needCXX(t)
	net := labnettest.New(t, false)
	build(t)
	for _, p := range []string{"/tmp", "/var/tmp", "/root", "/etc", "/home"} {
		for _, m := range []string{"isolab-hostile-make", "isolab-hostile-info"} {
			os.Remove(filepath.Join(p, m))
		}
	}
	work := t.TempDir()
	watch := watchRoot(t, work)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	tab, err := Run(ctx, Options{Root: root, Impl: testdata("hostile"), WorkDir: work, OurServer: shared.server, OurClient: shared.client,
		Envs: []runenv.Kind{runenv.Host}, Net: net, Logf: t.Logf})
	var out strings.Builder
	tab.Write(&out)
	t.Logf("table (%s):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	bad := watch.finish()
	for _, b := range bad {
		t.Errorf("the submission's code ran as a user of the machine: %s", b)
	}
	var contained []string
	for _, r := range tab.Rows {
		if r.Check == CheckSandbox || r.Check == submission.CheckSandbox {
			contained = append(contained, r.Detail)
		}
	}
	all := strings.Join(contained, "\n")
	for act, wants := range map[string][]string{
		"make writes outside its directory": {"make: wrote outside its directory: /tmp/isolab-hostile-make"},
		"fork bomb":                         {"forked until its process limit"},
		"writes outside its directory":      {"wrote outside its directory: /var/tmp/isolab-hostile-info"},
		"loops forever":                     {"ran into its CPU time limit", "kept a CPU busy"},
		"kills every process it can":        {"theirs client: signalled every process it could reach"},
		"fills the disk of its directory":   {"wrote a file past the size limit"},
	} {
		if !slices.ContainsFunc(wants, func(w string) bool { return strings.Contains(all, w) }) {
			t.Errorf("hostile act %q not reported (want one of %q); the sandbox said:\n%s", act, wants, all)
		}
	}
	// Nothing of it outside the run's directory: no file, process or segment.
	for _, p := range []string{"/tmp", "/var/tmp", "/root", "/etc", "/home"} {
		for _, m := range []string{"isolab-hostile-make", "isolab-hostile-info"} {
			if _, err := os.Stat(filepath.Join(p, m)); err == nil {
				t.Errorf("%s/%s reached the machine", p, m)
			}
		}
	}
	for _, uid := range watch.uids() {
		if left := sandbox.Processes(uid); len(left) > 0 {
			t.Errorf("processes of sandbox uid %d left: %s", uid, describe(left))
		}
		if more := sandbox.Clean(shared.helper, uid); len(more) > 0 {
			t.Errorf("sandbox uid %d left %q", uid, more)
		}
	}
}

// descendsFromSelf reports whether pid is a descendant of this test process.
func descendsFromSelf(pid int) bool {
	for i := 0; i < 64 && pid > 1; i++ {
		st, err := procfs.ReadStat(pid)
		if err != nil {
			return false
		}
		if st.PPID == os.Getpid() {
			return true
		}
		pid = st.PPID
	}
	return false
}

// describe names each process of pids as ps would: pid, state, parent
// and program, for a failure that says what was left.
func describe(pids []int) string {
	var out []string
	for _, pid := range pids {
		st, err := procfs.ReadStat(pid)
		if err != nil {
			out = append(out, fmt.Sprintf("%d (gone)", pid))
			continue
		}
		out = append(out, fmt.Sprintf("%d %c ppid %d pgrp %d %s", pid, st.State, st.PPID, st.PGRP, strings.Join(procfs.Cmdline(pid), " ")))
	}
	return strings.Join(out, "; ")
}

// rootWatch samples the processes of the machine while a run goes on, for
// the submission's code: every process whose exe is not the sandbox's
// helper but one of whose ancestors is (make, the compiler, the server and
// the client it runs), and every process whose exe is in the run's
// directory (its adapters). None may run as root or as this user.
type rootWatch struct {
	mu   sync.Mutex
	bad  []string
	seen map[int]bool // the sandbox uids seen
	stop chan struct{}
	done chan struct{}
}

func watchRoot(t *testing.T, work string) *rootWatch {
	t.Helper()
	w := &rootWatch{seen: map[int]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			des, _ := os.ReadDir("/proc")
			for _, d := range des {
				pid := 0
				if _, err := fmt.Sscanf(d.Name(), "%d", &pid); err != nil {
					continue
				}
				exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
				if exe == "" || isHelper(exe) {
					continue
				}
				if !strings.HasPrefix(exe, work) && !hasAncestor(pid) {
					continue
				}
				uid := procUID(pid)
				w.mu.Lock()
				switch {
				case uid < 0:
				case uid == 0 || uid == os.Getuid():
					w.bad = append(w.bad, fmt.Sprintf("pid %d %s as uid %d", pid, exe, uid))
				case descendsFromSelf(pid):
					// Only this test's sandboxes: other packages' tests run
					// theirs at the same time, with processes still going.
					w.seen[uid] = true
				}
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return w
}

// finish stops the watch and returns what ran as root or this user.
func (w *rootWatch) finish() []string {
	close(w.stop)
	<-w.done
	return w.bad
}

func (w *rootWatch) uids() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for u := range w.seen {
		out = append(out, u)
	}
	return out
}

// isHelper reports whether exe is a sandbox helper (the run builds its own).
func isHelper(exe string) bool { return filepath.Base(exe) == "isolab-sandbox" }

// hasAncestor reports whether a process up pid's parents is a sandbox
// helper.
func hasAncestor(pid int) bool {
	for range 16 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			return false
		}
		fmt.Sscanf(f[1], "%d", &pid)
		if pid <= 1 {
			return false
		}
		if e, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); isHelper(e) {
			return true
		}
	}
	return false
}

// procUID is the real uid of pid, or -1.
func procUID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			var uid int
			fmt.Sscanf(f[1], "%d", &uid)
			return uid
		}
	}
	return -1
}

// verdict is the cross table's cell (internal/grading's Verdict, which this
// package's tests cannot import).
func verdict(t *Table, env, server, client string) string {
	for _, r := range t.Rows {
		if r.Env == env && r.Server == server && r.Client == client && r.Check == CheckFiveLines {
			return map[Outcome]string{Pass: "ok", Fail: "FAIL", Skip: "skip"}[r.Outcome]
		}
	}
	return ""
}

package matrix

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/isolab/isolab/internal/lab"
	"github.com/isolab/isolab/internal/report"
	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/scenario"
	"github.com/isolab/isolab/internal/shell"
)

// VarDocs names the variable that makes Run update the docs as well.
const VarDocs = "LAB_MATRIX_DOCS"

// Variant is one row of the matrix: a label for the reader and the server that
// shows it (its name, environment and namespace options; messages are derived
// from the name).
type Variant struct {
	Label  string
	Server scenario.Server
}

// Variants are the rows, in the order the table gives them.
var Variants = []Variant{
	{"host process", srv("host", scenario.EnvHost, "", "")},
	{"Docker (defaults)", srv("docker", scenario.EnvDocker, "", "")},
	{"Docker --ipc=host", srv("docker-ipc-host", scenario.EnvDocker, scenario.IPCHost, "")},
	{"Docker --network=host", srv("docker-net-host", scenario.EnvDocker, "", scenario.NetworkHost)},
	{"Docker --network=none", srv("docker-net-none", scenario.EnvDocker, "", scenario.NetworkNone)},
	{"Docker --ipc=host --network=none", srv("docker-ipc-host-net-none", scenario.EnvDocker, scenario.IPCHost, scenario.NetworkNone)},
	{"Podman, rootful (defaults)", srv("podman", scenario.EnvPodman, "", "")},
	{"Apptainer (defaults)", srv("apptainer", scenario.EnvApptainer, scenario.IPCHost, "")},
	{"Apptainer --ipc", srv("apptainer-ipc", scenario.EnvApptainer, "", "")},
	{"Apptainer --containall", containall(srv("apptainer-containall", scenario.EnvApptainer, "", ""))},
	{"Apptainer --ipc --net --network none", srv("apptainer-ipc-net-none", scenario.EnvApptainer, "", scenario.NetworkNone)},
	// User-namespace mode: how Apptainer runs without setuid, as the course's
	// students run it (--fakeroot maps root in that namespace too, and as
	// root needs an /etc/subuid entry for root).
	{"Apptainer --userns --ipc", extra(srv("apptainer-userns-ipc", scenario.EnvApptainer, "", ""), "--userns")},
	{"QEMU VM, user networking", srv("vm", scenario.EnvVM, "", "")},
	{"unshare --ipc", srv("unshare-ipc", scenario.EnvUnshare, "", "")},
	{"unshare --ipc --net", srv("unshare-ipc-net", scenario.EnvUnshare, "", scenario.NetworkNone)},
}

func srv(name string, env scenario.Env, ipc scenario.IPC, network scenario.Network) scenario.Server {
	return scenario.Server{Name: name, Env: env, IPC: ipc, Network: network, ShmMsg: name + "-shm", SocketMsg: name + "-socket"}
}

func extra(s scenario.Server, args ...string) scenario.Server {
	s.ExtraArgs = args
	return s
}

func containall(s scenario.Server) scenario.Server {
	s.Containall = true
	return s
}

// Matrix is one measurement of every variant.
type Matrix struct {
	Measured time.Time `json:"measured"`
	Kernel   string    `json:"kernel"` // the host's kernel release
	Rows     []Row     `json:"rows"`
}

// Row is what the client on the host saw of one variant's server, with the
// server's settings, so the class a reader expects and the reason the rule
// misleads can be derived again (Derive).
type Row struct {
	Variant    string           `json:"variant"`
	Server     string           `json:"server"` // the server's name: its info file
	Env        scenario.Env     `json:"env"`
	IPC        scenario.IPC     `json:"ipc,omitempty"`
	Network    scenario.Network `json:"network,omitempty"`
	Containall bool             `json:"containall,omitempty"`
	Command    string           `json:"command,omitempty"` // the exact command line that started it
	NotRun     string           `json:"not_run,omitempty"` // why it did not run; the rest is then empty
	// NoServer says why the client saw no server at all: the command ran,
	// but the server never wrote its info file (the exercise's own
	// Apptainer line); the channels and the class are then empty.
	NoServer string       `json:"no_server,omitempty"`
	Shm      Channel      `json:"shm"`
	Socket   Channel      `json:"socket"`
	Class    report.Class `json:"class,omitzero"` // the class the client gave; none for a row that did not run

	// Derived from the settings and the class above by Derive.
	Expected report.Class `json:"expected"` // the class a reader expects (scenario.Env.Nominal)
	Derived  report.Class `json:"derived"`  // the class the lab derives from the settings
	Note     string       `json:"note,omitempty"`
}

// Channel is the outcome of one of the client's channels to a server.
type Channel struct {
	OK      bool   `json:"ok"`
	Outcome string `json:"outcome"`           // the client's word: attached, not found, connected, refused, unreachable, ...
	Address string `json:"address,omitempty"` // the socket's ip:port
}

func (r Row) server() scenario.Server {
	return scenario.Server{Name: r.Server, Env: r.Env, IPC: r.IPC, Network: r.Network, Containall: r.Containall}
}

// Derive fills in Expected, Derived and Note from the row's settings and
// measurement. Note says why the rule misleads when the client's class is not
// the one a reader expects, says so when the measurement contradicts the
// lab's derivation, and says "not run: REASON" for a row that did not run.
func (r Row) Derive() Row {
	v := r.server().Visibility()
	r.Expected, r.Derived, r.Note = r.Env.Nominal(), v.Class(), ""
	switch {
	case r.NotRun != "":
		r.Note = "not run: " + r.NotRun
	case r.NoServer != "":
		r.Note = "the client counts no server: " + r.NoServer
	case r.Class != r.Derived:
		r.Note = fmt.Sprintf("unexpected: the lab derives %s from the settings (shm %s, socket %s)", r.Derived, yesNo(v.Shm), yesNo(v.Socket))
	case r.Class != r.Expected:
		r.Note = v.Note
	}
	return r
}

// Surprises lists the rows whose measurement contradicts the lab's derivation.
func (m *Matrix) Surprises() []string {
	var out []string
	for _, r := range m.Rows {
		if r.NotRun == "" && r.NoServer == "" && r.Class != r.Derived {
			out = append(out, fmt.Sprintf("%s: the client gave %s, the lab derives %s", r.Variant, r.Class, r.Derived))
		}
	}
	return out
}

// Measure runs every variant and returns what the client saw. Docker, Podman
// and Apptainer rows whose program is not installed are "not run: NAME
// absent". One lab run takes every variant but Podman's with Docker as the
// OCI engine, a second one Podman's (a lab run has one OCI engine). Each run
// fails when anything is left behind.
func Measure(ctx context.Context, cfg lab.Config) (*Matrix, error) {
	m := &Matrix{Measured: time.Now().UTC().Truncate(time.Second), Kernel: kernelRelease()}
	runs := map[runenv.Kind][]int{} // the variants each run takes, by index
	for i, v := range Variants {
		s := v.Server
		m.Rows = append(m.Rows, Row{Variant: v.Label, Server: s.Name, Env: s.Env, IPC: s.IPC, Network: s.Network, Containall: s.Containall, NotRun: absent(s.Env)})
		if m.Rows[i].NotRun != "" {
			continue
		}
		k := runenv.Docker
		if s.Env == scenario.EnvPodman {
			k = runenv.Podman
		}
		runs[k] = append(runs[k], i)
	}
	for _, k := range []runenv.Kind{runenv.Docker, runenv.Podman} {
		if len(runs[k]) == 0 {
			continue
		}
		sc := &scenario.Scenario{File: fmt.Sprintf("matrix (%s run)", k)}
		for _, i := range runs[k] {
			sc.Servers = append(sc.Servers, Variants[i].Server)
		}
		c := cfg
		c.Scenario, c.Engine = sc, k
		l, err := lab.New(c)
		if err != nil {
			return nil, err
		}
		l.Printf("matrix: %d variants with %s as the OCI engine", len(sc.Servers), k)
		meas, err := l.Measure(ctx)
		if err != nil {
			return nil, fmt.Errorf("matrix, %s run: %w", k, err)
		}
		for _, i := range runs[k] {
			if err := fill(&m.Rows[i], meas); err != nil {
				return nil, err
			}
		}
	}
	rows, err := courseRows(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m.Rows = append(m.Rows, rows...)
	for i := range m.Rows {
		m.Rows[i] = m.Rows[i].Derive()
	}
	return m, nil
}

// Labels are the rows' labels, in the table's order: the variants, then
// the exercise's own Apptainer command lines (lab.CourseLines).
func Labels() []string {
	var out []string
	for _, v := range Variants {
		out = append(out, v.Label)
	}
	for _, c := range lab.CourseLines {
		out = append(out, c.Label)
	}
	return out
}

// courseRows runs the exercise's Apptainer command lines (lab.RunCourseLines):
// a server in Apptainer's defaults, the host's IPC and network, when it runs.
func courseRows(ctx context.Context, cfg lab.Config) ([]Row, error) {
	var rows []Row
	for _, c := range lab.CourseLines {
		rows = append(rows, Row{Variant: c.Label, Server: "course", Env: scenario.EnvApptainer, IPC: scenario.IPCHost, NotRun: absent(scenario.EnvApptainer)})
	}
	if rows[0].NotRun != "" {
		return rows, nil
	}
	l, err := lab.New(cfg)
	if err != nil {
		return nil, err
	}
	runs, err := l.RunCourseLines(ctx)
	if err != nil {
		return nil, fmt.Errorf("matrix, the exercise's Apptainer lines: %w", err)
	}
	for i, run := range runs {
		r := &rows[i]
		r.Command = shell.Quote(run.Command) + " <<< " + strings.TrimSpace(run.Stdin)
		if run.Server == nil {
			r.NoServer = fmt.Sprintf("apptainer exited %d at once, the server never ran (%s)", run.Exit, oneLine(run.Printed))
			continue
		}
		s := run.Server
		r.Server = s.File
		r.Shm = Channel{OK: s.Shm.OK, Outcome: s.Shm.Outcome}
		r.Socket = Channel{OK: s.Socket.OK, Outcome: s.Socket.Outcome, Address: s.Address}
		r.Class = s.Class
	}
	return rows, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// fill copies what the run recorded of the row's server into the row.
func fill(row *Row, meas *lab.Measurement) error {
	for _, r := range meas.State.Servers {
		if r.Name == row.Server {
			row.Command = shell.Quote(r.Handle.Argv)
		}
	}
	for _, s := range meas.Result.Servers {
		if s.File == scenario.InfoName(row.server()) {
			row.Shm = Channel{OK: s.Shm.OK, Outcome: s.Shm.Outcome}
			row.Socket = Channel{OK: s.Socket.OK, Outcome: s.Socket.Outcome, Address: s.Address}
			row.Class = s.Class
			return nil
		}
	}
	return fmt.Errorf("matrix: the client reported no server %s", row.Server)
}

// absent returns "NAME absent" when env's engine is not installed, else "".
func absent(env scenario.Env) string {
	if !env.Container() {
		return ""
	}
	if runenv.Installed(runenv.Kind(env)) != nil {
		return fmt.Sprintf("%s absent", env)
	}
	return ""
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

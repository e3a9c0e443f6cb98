package matrix

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/report"
	"github.com/isolab/isolab/internal/scenario"
)

// measured is a row that ran, with the channels the client found working.
func measured(variant string, s scenario.Server, shm, socket bool, addr string) Row {
	r := Row{Variant: variant, Server: s.Name, Env: s.Env, IPC: s.IPC, Network: s.Network, Containall: s.Containall}
	r.Shm = Channel{OK: shm, Outcome: map[bool]string{true: "attached", false: "not found"}[shm]}
	r.Socket = Channel{OK: socket, Outcome: map[bool]string{true: "connected", false: "refused"}[socket], Address: addr}
	r.Class = report.Classify(shm, socket)
	return r.Derive()
}

func TestDerive(t *testing.T) {
	docker := scenario.Server{Name: "d", Env: scenario.EnvDocker}
	dockerIPC := scenario.Server{Name: "d", Env: scenario.EnvDocker, IPC: scenario.IPCHost}
	dockerNone := scenario.Server{Name: "d", Env: scenario.EnvDocker, Network: scenario.NetworkNone}
	unshare := scenario.Server{Name: "u", Env: scenario.EnvUnshare}
	tests := []struct {
		name              string
		row               Row
		expected, derived report.Class
		note              string // substring; "" means none
	}{
		{"host as expected", measured("h", scenario.Server{Name: "h", Env: scenario.EnvHost}, true, true, ""), report.Host, report.Host, ""},
		{"docker as expected", measured("d", docker, false, true, ""), report.Container, report.Container, ""},
		{"docker --ipc=host misleads", measured("d", dockerIPC, true, true, ""), report.Container, report.Host, "shares the host's IPC namespace and the host reaches its bridge address, so the rule calls it Host"},
		{"docker --network=none misleads", measured("d", dockerNone, false, false, ""), report.Container, report.VM, "no network but loopback, so the rule calls it VM"},
		{"vm as expected", measured("v", scenario.Server{Name: "v", Env: scenario.EnvVM}, false, false, ""), report.VM, report.VM, ""},
		{"unshare --ipc misleads", measured("u", unshare, false, true, ""), report.Host, report.Container, "host process under unshare, but it has an IPC namespace of its own"},
		{"measurement contradicts the lab", measured("d", docker, false, false, ""), report.Container, report.Container, "unexpected: the lab derives Container from the settings (shm no, socket yes)"},
		{"not run", Row{Variant: "a", Server: "a", Env: scenario.EnvApptainer, NotRun: "apptainer absent"}.Derive(), report.Container, report.Container, "not run: apptainer absent"},
		{"no server", Row{Variant: "a", Server: "course", Env: scenario.EnvApptainer, IPC: scenario.IPCHost, NoServer: "apptainer exited 255"}.Derive(), report.Container, report.Host, "the client counts no server: apptainer exited 255"},
	}
	for _, tt := range tests {
		r := tt.row
		if r.Expected != tt.expected || r.Derived != tt.derived || (tt.note == "") != (r.Note == "") || !strings.Contains(r.Note, tt.note) {
			t.Errorf("%s: Derive() = expected %v, derived %v, note %q; want %v, %v, %q", tt.name, r.Expected, r.Derived, r.Note, tt.expected, tt.derived, tt.note)
		}
	}
}

// A row whose command started no server is no surprise: there was nothing
// for the client to classify.
func TestNoServerIsNoSurprise(t *testing.T) {
	m := &Matrix{Rows: []Row{Row{Variant: "course", Env: scenario.EnvApptainer, IPC: scenario.IPCHost, NoServer: "exited 255"}.Derive()}}
	if s := m.Surprises(); len(s) > 0 {
		t.Errorf("Surprises() = %q, want none", s)
	}
	if c := m.Rows[0].cells(); c[1] != "no (no server)" || c[3] != "none" {
		t.Errorf("cells() = %q, want no channels and no class", c)
	}
}

func TestSurprises(t *testing.T) {
	docker := scenario.Server{Name: "d", Env: scenario.EnvDocker}
	m := &Matrix{Rows: []Row{
		measured("Docker ok", docker, false, true, ""),
		measured("Docker odd", docker, true, true, ""),
		Row{Variant: "Apptainer", Env: scenario.EnvApptainer, NotRun: "apptainer absent"}.Derive(),
	}}
	want := []string{"Docker odd: the client gave Host, the lab derives Container"}
	if got := m.Surprises(); !reflect.DeepEqual(got, want) {
		t.Errorf("Surprises() = %q, want %q", got, want)
	}
}

// sample is a small matrix with a row as expected, a misleading one and one
// not run.
func sample() *Matrix {
	return &Matrix{
		Measured: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Kernel:   "6.1.0-test",
		Rows: []Row{
			measured("Docker (defaults)", scenario.Server{Name: "docker", Env: scenario.EnvDocker}, false, true, "172.17.0.2:31001"),
			measured("Docker --network=none", scenario.Server{Name: "n", Env: scenario.EnvDocker, Network: scenario.NetworkNone}, false, false, "127.0.0.1:31004"),
			Row{Variant: "Apptainer | odd", Server: "a", Env: scenario.EnvApptainer, NotRun: "apptainer absent"}.Derive(),
		},
	}
}

func TestMarkdown(t *testing.T) {
	want := `| variant | shm visible from host | socket reachable from host | client's class | a reader expects | where the rule misleads |
|---|---|---|---|---|---|
| Docker (defaults) | no (not found) | yes (connected, 172.17.0.2:31001) | Container | Container |  |
| Docker --network=none | no (not found) | no (refused, 127.0.0.1:31004) | VM | Container | docker container, but it has an IPC namespace of its own and it has no network but loopback, so the rule calls it VM |
| Apptainer \| odd | - | - | - | Container | not run: apptainer absent |

Measured 2025-03-04 on Linux 6.1.0-test by ` + "`go tool mage lab:matrix`" + `.
`
	if got := Markdown(sample()); got != want {
		t.Errorf("Markdown(sample) =\n%s\nwant\n%s", got, want)
	}
}

func TestWriteText(t *testing.T) {
	var b strings.Builder
	if err := WriteText(&b, sample()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("WriteText(sample) wrote %d lines, want 4:\n%s", len(lines), b.String())
	}
	if !strings.HasPrefix(lines[0], "VARIANT  ") || !strings.Contains(lines[0], "CLIENT'S CLASS") {
		t.Errorf("WriteText(sample) header = %q, want upper-case column names", lines[0])
	}
	col := strings.Index(lines[0], "CLIENT'S CLASS")
	for _, l := range lines[1:3] {
		if !strings.HasPrefix(l[col:], "Container") && !strings.HasPrefix(l[col:], "VM") {
			t.Errorf("WriteText(sample) row %q: class not aligned under its header at column %d", l, col)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	m := sample()
	b, err := JSON(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseJSON(b)
	if err != nil {
		t.Fatalf("ParseJSON(JSON(sample)) = %v", err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("ParseJSON(JSON(sample)) = %+v, want %+v", got, m)
	}
	if !strings.Contains(string(b), `"class": "VM"`) {
		t.Errorf("JSON(sample) names no class as text:\n%s", b)
	}
}

// A row that did not run has no class, in JSON too: it was written as
// "class": "VM" when the zero class was VM.
func TestJSONNotRunHasNoClass(t *testing.T) {
	m := &Matrix{Rows: []Row{Row{Variant: "Apptainer (defaults)", Server: "apptainer", Env: scenario.EnvApptainer, NotRun: "apptainer absent"}.Derive()}}
	b, err := JSON(m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"class"`) {
		t.Errorf("JSON of a row that did not run holds a class:\n%s", b)
	}
	back, err := ParseJSON(b)
	if err != nil || back.Rows[0].Class != report.None {
		t.Errorf("ParseJSON: class %v, %v; want none", back.Rows[0].Class, err)
	}
}

func TestReplace(t *testing.T) {
	doc := "# A\n\ntext\n" + BeginMarker + "old\n" + EndMarker + "after\n"
	tests := []struct {
		name string
		doc  string
		want string // "" means ErrNoMarkers
	}{
		{"replaced", doc, "# A\n\ntext\n" + BeginMarker + "new\n" + EndMarker + "after\n"},
		{"empty section", BeginMarker + EndMarker, BeginMarker + "new\n" + EndMarker},
		{"no markers", "# A\n", ""},
		{"no end", BeginMarker + "old\n", ""},
		{"end first", EndMarker + BeginMarker, ""},
	}
	for _, tt := range tests {
		got, err := Replace([]byte(tt.doc), "new\n")
		switch {
		case tt.want == "" && !errors.Is(err, ErrNoMarkers):
			t.Errorf("%s: Replace(%q) = %q, %v; want %v", tt.name, tt.doc, got, err, ErrNoMarkers)
		case tt.want != "" && (err != nil || string(got) != tt.want):
			t.Errorf("%s: Replace(%q) = %q, %v; want %q", tt.name, tt.doc, got, err, tt.want)
		}
	}
	if s, err := Section([]byte(doc)); s != "old\n" || err != nil {
		t.Errorf("Section(%q) = %q, %v; want %q", doc, s, err, "old\n")
	}
}

// TestVariants checks the rows without running them: one valid scenario
// holds them all, labels are unique, and the lab derives for each the class
// the table of misleading cases gives.
func TestVariants(t *testing.T) {
	want := map[string]report.Class{
		"host process": report.Host, "Docker (defaults)": report.Container, "Docker --ipc=host": report.Host,
		"Docker --network=host": report.Container, "Docker --network=none": report.VM,
		"Docker --ipc=host --network=none": report.Container, "Podman, rootful (defaults)": report.Container,
		"Apptainer (defaults)": report.Host, "Apptainer --ipc": report.Container, "Apptainer --containall": report.Container,
		"Apptainer --ipc --net --network none": report.VM, "Apptainer --userns --ipc": report.Container,
		"QEMU VM, user networking": report.VM, "unshare --ipc": report.Container, "unshare --ipc --net": report.VM,
	}
	sc := &scenario.Scenario{File: "variants"}
	seen := map[string]bool{}
	for _, v := range Variants {
		if seen[v.Label] {
			t.Errorf("label %q used twice", v.Label)
		}
		seen[v.Label] = true
		sc.Servers = append(sc.Servers, v.Server)
		if got, ok := want[v.Label]; !ok || v.Server.Visibility().Class() != got {
			t.Errorf("variant %q: derived class %v, want %v (listed: %v)", v.Label, v.Server.Visibility().Class(), got, ok)
		}
	}
	if len(Variants) != len(want) {
		t.Errorf("%d variants, want %d", len(Variants), len(want))
	}
	if err := sc.Validate(); err != nil {
		t.Errorf("the variants' scenario: %v", err)
	}
}

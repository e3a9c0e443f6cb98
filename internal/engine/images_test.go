package engine

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const imagesDir = "../../images"

// deffile is an Apptainer definition split the way apptainer's parser splits
// it: header keywords (lower-cased), then each %section's body.
type deffile struct {
	header   map[string]string
	sections map[string][]string // body lines, trimmed, comments and blanks dropped
	order    []string
}

func parseDef(t *testing.T, path string) deffile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := deffile{header: map[string]string{}, sections: map[string][]string{}}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "%") {
			section = strings.Fields(line)[0][1:]
			if _, dup := d.sections[section]; dup {
				t.Errorf("%s:%d: section %%%s appears twice", path, n, section)
			}
			d.sections[section] = nil
			d.order = append(d.order, section)
			continue
		}
		if section == "" {
			k, v, ok := strings.Cut(strings.Split(line, "#")[0], ":")
			if !ok {
				t.Fatalf("%s:%d: header line %q is not 'Keyword: value'", path, n, line)
			}
			d.header[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			continue
		}
		d.sections[section] = append(d.sections[section], line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestServerDef checks images/server.def without apptainer: a scratch image
// whose only file is the static server at ServerPath, the path the argv
// builder runs, and no section that needs a shell inside.
func TestServerDef(t *testing.T) {
	path := filepath.Join(imagesDir, "server.def")
	d := parseDef(t, path)
	if got := d.header["bootstrap"]; got != "scratch" {
		t.Errorf("%s: Bootstrap = %q, want scratch", path, got)
	}
	if len(d.header) != 1 {
		t.Errorf("%s: header = %v, want Bootstrap only (scratch takes no From)", path, d.header)
	}
	known := []string{"files", "labels", "help"}
	for _, s := range d.order {
		if !slices.Contains(known, s) {
			// %post, %setup, %environment, %runscript, %startscript and %test
			// run under /bin/sh, which a scratch image lacks.
			t.Errorf("%s: section %%%s: want only %v (there is no shell in the image)", path, s, known)
		}
	}
	files := d.sections["files"]
	if len(files) != 1 {
		t.Fatalf("%s: %%files = %q, want exactly the server", path, files)
	}
	src, dst, _ := strings.Cut(files[0], " ")
	dst = strings.TrimSpace(dst)
	if dst != ServerPath {
		t.Errorf("%s: %%files puts %s at %q, want %q (what Spec.Argv runs)", path, src, dst, ServerPath)
	}
	if src != "server" {
		t.Errorf("%s: %%files source %q: want server, the binary in the build context (as images/Dockerfile takes it)", path, src)
	}
	labels := map[string]string{}
	for _, l := range d.sections["labels"] {
		k, v, _ := strings.Cut(l, " ")
		labels[k] = strings.TrimSpace(v)
	}
	if labels[LabelKey] != LabelValue {
		t.Errorf("%s: %%labels = %v, want %s %s", path, labels, LabelKey, LabelValue)
	}
}

// TestDockerfile checks images/Dockerfile: FROM scratch, the server at
// ServerPath as the exec-form entrypoint, nothing run at build time (there is
// no shell), and nothing the legacy builder of Debian's Docker lacks.
func TestDockerfile(t *testing.T) {
	path := filepath.Join(imagesDir, "Dockerfile")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var instrs [][2]string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, arg, _ := strings.Cut(line, " ")
		instrs = append(instrs, [2]string{strings.ToUpper(op), strings.TrimSpace(arg)})
	}
	if len(instrs) == 0 || instrs[0] != [2]string{"FROM", "scratch"} {
		t.Fatalf("%s: first instruction %v, want FROM scratch", path, instrs[:min(1, len(instrs))])
	}
	var copies []string
	var entry string
	for _, in := range instrs[1:] {
		switch in[0] {
		case "COPY":
			if strings.HasPrefix(in[1], "--") {
				t.Errorf("%s: COPY %s: flags need BuildKit, which Debian's docker.io lacks", path, in[1])
			}
			copies = append(copies, in[1])
		case "ENTRYPOINT":
			entry = in[1]
		case "USER", "LABEL":
		default:
			t.Errorf("%s: %s %s: want only COPY, USER, LABEL and ENTRYPOINT after FROM scratch", path, in[0], in[1])
		}
	}
	if want := []string{"server " + ServerPath}; !slices.Equal(copies, want) {
		t.Errorf("%s: COPY %q, want %q (context: a directory holding the server)", path, copies, want)
	}
	var argv []string
	if err := json.Unmarshal([]byte(entry), &argv); err != nil || !slices.Equal(argv, []string{ServerPath}) {
		t.Errorf("%s: ENTRYPOINT %s, want exec form [%q] (no shell to run the shell form)", path, entry, ServerPath)
	}
}

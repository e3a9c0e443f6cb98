package shm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/shm"
)

// TestFtokMatchesC compares Ftok with the C library's ftok(3), built from
// testdata/ftok.c, on several files and proj_ids.
func TestFtokMatchesC(t *testing.T) {
	leakcheck.Check(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found, so the C library's ftok cannot be compared (try: apt-get install gcc)")
	}
	bin := filepath.Join(t.TempDir(), "ftok")
	if out, err := exec.Command(gcc, "-O2", "-Wall", "-o", bin, "testdata/ftok.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc testdata/ftok.c: %v\n%s", err, out)
	}

	dir := t.TempDir()
	paths := []string{"/", "/dev/null", "testdata/ftok.c", dir}
	for i := range 5 {
		p := filepath.Join(dir, "f"+strconv.Itoa(i))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	projIDs := []int{1, 'A', 0x7f, 0x80, 0xff, 0x141, -1, 1 << 30}

	var args []string
	for _, p := range paths {
		for _, id := range projIDs {
			args = append(args, p, strconv.Itoa(id))
		}
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(args)/2 {
		t.Fatalf("%s printed %d keys, want %d", bin, len(lines), len(args)/2)
	}
	for i, line := range lines {
		p, id := args[2*i], projIDs[i%len(projIDs)]
		c, err := strconv.ParseInt(line, 10, 32)
		if err != nil {
			t.Fatalf("%s printed %q", bin, line)
		}
		got, err := shm.Ftok(p, id)
		if err != nil || got != shm.Key(c) {
			t.Errorf("Ftok(%q, %#x) = %v, %v, want %v (C ftok)", p, id, got, err, shm.Key(c))
		}
	}
}

package shmtest

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/shm"
)

// envVar carries the child's task: "create KEY MSG" or "attach SHMID".
const envVar = "ISOLAB_SHMTEST"

// Main runs the tests, or the child's task when the test binary was started by
// CreateStale or AttachFromChild. Call it from TestMain.
func Main(m *testing.M) {
	MaybeChild()
	os.Exit(m.Run())
}

// MaybeChild does the child's task and exits when this test binary was started
// by CreateStale or AttachFromChild, and returns otherwise. Call it first in a
// TestMain that does more than Main.
func MaybeChild() {
	if task := os.Getenv(envVar); task != "" {
		if err := child(task); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func child(task string) error {
	f := strings.SplitN(task, " ", 3)
	switch {
	case len(f) == 3 && f[0] == "create":
		key, err := strconv.ParseInt(f[1], 0, 64)
		if err != nil {
			return err
		}
		id, err := shm.Create(shm.Key(int32(key)), shm.Size, 0o644)
		if err != nil {
			return err
		}
		seg, err := shm.Attach(id, false)
		if err != nil {
			return err
		}
		if err := shm.Put(seg, f[2]); err != nil {
			return err
		}
		fmt.Println(id)
		return shm.Detach(seg)
	case len(f) == 2 && f[0] == "attach":
		id, err := strconv.Atoi(f[1])
		if err != nil {
			return err
		}
		seg, err := shm.Attach(id, true)
		if err != nil {
			return err
		}
		fmt.Println(shm.Message(seg))
		return shm.Detach(seg)
	}
	return fmt.Errorf("shmtest: bad task %q", task)
}

func run(t testing.TB, task string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envVar+"="+task)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("shmtest child %q: %v (does TestMain call shmtest.Main?)", task, err)
	}
	return strings.TrimSpace(string(out))
}

// CreateStale makes a segment with key holding msg from a child process that
// then exits, as a server that died without cleanup would leave it: creator
// gone, nobody attached. It returns the shmid. The caller removes it.
func CreateStale(t testing.TB, key shm.Key, msg string) int {
	t.Helper()
	out := run(t, fmt.Sprintf("create %d %s", int32(key), msg))
	id, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("shmtest child printed %q, want a shmid", out)
	}
	return id
}

// AttachFromChild attaches segment id read-only from a child process, which
// detaches and exits, and returns the message it read there.
func AttachFromChild(t testing.TB, id int) string {
	t.Helper()
	return run(t, fmt.Sprintf("attach %d", id))
}

// MappingPerms returns the permissions ("r--s", "rw-s") of this process's
// mappings of the segment with key, from /proc/self/maps ("/SYSV<key>" lines).
func MappingPerms(t *testing.T, key shm.Key) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("/SYSV%08x", uint32(key))
	var perms []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && f[5] == name {
			perms = append(perms, f[1])
		}
	}
	return perms
}

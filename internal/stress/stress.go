package stress

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// VarHog names the variable that says how many busy loops Main runs.
const VarHog = "ISOLAB_TEST_HOG"

// Run runs m's tests, with $ISOLAB_TEST_HOG busy loops beside them, and
// returns their status: call it from TestMain, in place of m.Run.
func Run(m *testing.M) int {
	stop, err := Hog(os.Getenv(VarHog))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer stop()
	return m.Run()
}

// Hog starts n (a count, "" for none) CPU-bound shell loops, each in a
// process group of its own, and returns what stops them all.
func Hog(n string) (stop func(), err error) {
	count := 0
	if n != "" {
		if count, err = strconv.Atoi(n); err != nil || count < 0 {
			return nil, fmt.Errorf("%s=%q: want a number of busy loops", VarHog, n)
		}
	}
	var loops []*exec.Cmd
	stop = func() {
		for _, c := range loops {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			c.Wait()
		}
	}
	for range count {
		c := exec.Command("sh", "-c", "while :; do :; done")
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := c.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("%s: start a busy loop: %w", VarHog, err)
		}
		loops = append(loops, c)
	}
	if count > 0 {
		fmt.Fprintf(os.Stderr, "stress: %d busy loops beside the tests (%s)\n", count, VarHog)
	}
	return stop, nil
}

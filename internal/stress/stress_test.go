package stress

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/procfs"
)

// The loops Hog starts run and use CPU, and stop leaves none.
func TestHog(t *testing.T) {
	stop, err := Hog("2")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	mine := func() (pids []int) {
		for _, p := range procfs.PIDs() {
			if st, err := procfs.ReadStat(p); err == nil && st.PPID == self && st.Comm == "sh" && !st.Zombie() {
				pids = append(pids, p)
			}
		}
		return pids
	}
	if got := mine(); len(got) != 2 {
		stop()
		t.Fatalf("%d busy loops run, want 2", len(got))
	}
	time.Sleep(200 * time.Millisecond)
	for _, p := range mine() {
		if st, _ := procfs.ReadStat(p); st.UTime+st.STime == 0 {
			t.Errorf("busy loop %d used no CPU time", p)
		}
	}
	stop()
	if got := mine(); len(got) != 0 {
		t.Errorf("busy loops left after stop: %v", got)
	}
}

func TestHogRefuses(t *testing.T) {
	for _, bad := range []string{"x", "-1"} {
		if _, err := Hog(bad); err == nil || !strings.Contains(err.Error(), VarHog) {
			t.Errorf("Hog(%q) = %v, want an error naming %s", bad, err, VarHog)
		}
	}
	if stop, err := Hog(strconv.Itoa(0)); err != nil {
		t.Errorf("Hog(0) = %v", err)
	} else {
		stop()
	}
}

//go:build linux

package shell

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/procfs"
)

// A program Run starts is in a process group of its own, so a Ctrl-C at the
// terminal reaches only this process; cancelling the context kills what the
// program started too.
func TestRunOwnGroup(t *testing.T) {
	out, err := Run(context.Background(), Command{Argv: []string{"sh", "-c", "echo $$"}})
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(out))
	st, err := procfs.ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if pid == 0 || st.PGRP == pid {
		t.Fatalf("sh printed pid %q; this process's group is %d", out, st.PGRP)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var grandchild strings.Builder
	Run(ctx, Command{Argv: []string{"sh", "-c", "sleep 30 & echo $!; wait"}, Stdout: &grandchild})
	gpid, _ := strconv.Atoi(strings.TrimSpace(grandchild.String()))
	if gpid == 0 {
		t.Fatalf("no grandchild pid in %q", grandchild.String())
	}
	for i := 0; i < 100 && procfs.Live(gpid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if procfs.Live(gpid) {
		t.Errorf("grandchild sleep %d survived the cancelled Run", gpid)
	}
}

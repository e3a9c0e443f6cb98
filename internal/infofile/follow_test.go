package infofile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A file written the way course code writes it (created, then its lines
// one by one) is complete only once its fourth line has ended.
func TestFollowerStepByStep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s1")
	f := Follow(path)
	for _, tc := range []struct {
		content string
		ok      bool
	}{
		{"", false},
		{"127.0.0.1\n", false},
		{"127.0.0.1\n4000\n", false},
		{"127.0.0.1\n4000\n/tmp/x\n", false},
		{"127.0.0.1\n4000\n/tmp/x\n1", false}, // proj_id 1, or the start of 17?
		{"127.0.0.1\n4000\n/tmp/x\n17\n", true},
	} {
		if tc.content != "" || tc.ok {
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		info, ok, err := f.Complete(false)
		if err != nil || ok != tc.ok {
			t.Fatalf("Complete() with %q = %v, %v, want %v, nil", tc.content, ok, err, tc.ok)
		}
		if ok && info.ProjID != 17 {
			t.Fatalf("Complete() with %q = %+v, want proj_id 17", tc.content, info)
		}
	}
}

// A last line without its newline counts once it has stayed the same for
// Settle, or at once when the server has ended.
func TestFollowerNoLastNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s1")
	if err := os.WriteFile(path, []byte("127.0.0.1\n4000\n/tmp/x\n17"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := Follow(path)
	if _, ok, _ := f.Complete(false); ok {
		t.Fatal("Complete() = true at first sight of an unended last line")
	}
	time.Sleep(Settle + 10*time.Millisecond)
	if info, ok, err := f.Complete(false); !ok || err != nil || info.ProjID != 17 {
		t.Fatalf("Complete() after Settle = %+v, %v, %v, want proj_id 17, true, nil", info, ok, err)
	}
	if _, ok, _ := Follow(path).Complete(true); !ok {
		t.Fatal("Complete(ended) = false for a file that parses")
	}
}

// Four ended lines that do not parse are complete, and an error: the
// server wrote them wrong, and waiting longer changes nothing.
func TestFollowerMalformed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s1")
	if err := os.WriteFile(path, []byte("localhost\n4000\n/tmp/x\n17\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := Follow(path).Complete(false); !ok || err == nil {
		t.Fatalf("Complete() = %v, %v, want true and the line's error", ok, err)
	}
}

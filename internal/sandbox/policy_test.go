package sandbox

import (
	"strings"
	"testing"
)

// A stopped program that looped is named however small its share of the
// CPUs was; one that waited for a client is not, however long it waited.
func TestEventsLoop(t *testing.T) {
	for _, tt := range []struct {
		name string
		rep  Report
		want bool
	}{
		{"waited", Report{Stopped: true, CPU: 0.02, Busiest: 0.05, Wall: 20}, false},
		{"looped, idle machine", Report{Stopped: true, CPU: 19.5, Busiest: 19.9, Wall: 20}, true},
		{"looped, busy machine", Report{Stopped: true, CPU: 0.4, Busiest: 19.8, Wall: 20}, true},
		{"looped in a thread", Report{Stopped: true, CPU: 3, Busiest: 0.1, Wall: 20}, true},
		{"looped, ended by itself", Report{CPU: 19.5, Busiest: 19.9, Wall: 20}, false},
		{"started, stopped at once", Report{Stopped: true, CPU: 0.1, Busiest: 0.3, Wall: 0.5}, false},
	} {
		ev := strings.Join(tt.rep.Events(), "; ")
		if got := strings.Contains(ev, "kept a CPU busy"); got != tt.want {
			t.Errorf("%s: events %q, want a busy loop named: %v", tt.name, ev, tt.want)
		}
	}
}

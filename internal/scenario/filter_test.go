package scenario

import (
	"reflect"
	"testing"
)

func TestFilter(t *testing.T) {
	all := []Server{srv("h1", EnvHost), srv("a1", EnvApptainer), srv("d1", EnvDocker), srv("v1", EnvVM), srv("a2", EnvApptainer)}
	tests := []struct {
		name        string
		unavailable map[Env]string
		kept        []string
		dropped     []string
	}{
		{"everything runs", nil, []string{"h1", "a1", "d1", "v1", "a2"}, nil},
		{"no apptainer", map[Env]string{EnvApptainer: "apptainer not found (try: apt-get install apptainer)"},
			[]string{"h1", "d1", "v1"},
			[]string{"a1 (apptainer) left out: apptainer not found (try: apt-get install apptainer)", "a2 (apptainer) left out: apptainer not found (try: apt-get install apptainer)"}},
		{"no VM, no podman", map[Env]string{EnvVM: "VM not requested", EnvPodman: "unused"},
			[]string{"h1", "a1", "d1", "a2"}, []string{"v1 (vm) left out: VM not requested"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, dropped := Filter(all, tt.unavailable)
			var gotKept, gotDropped []string
			for _, s := range kept {
				gotKept = append(gotKept, s.Name)
			}
			for _, d := range dropped {
				gotDropped = append(gotDropped, d.String())
			}
			if !reflect.DeepEqual(gotKept, tt.kept) || !reflect.DeepEqual(gotDropped, tt.dropped) {
				t.Errorf("Filter(%v, %v) = %q, %q, want %q, %q", all, tt.unavailable, gotKept, gotDropped, tt.kept, tt.dropped)
			}
		})
	}
}

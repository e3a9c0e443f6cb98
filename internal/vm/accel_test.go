package vm

import (
	"slices"
	"strings"
	"testing"
)

func TestChooseAccel(t *testing.T) {
	vmx := []string{"fpu", "vme", "vmx", "sse4_2"}
	svm := []string{"fpu", "svm"}
	none := []string{"fpu", "sse4_2", "hypervisor"}
	tests := []struct {
		setting string
		flags   []string
		kvm     bool
		want    Accel
		wantErr string
	}{
		{"", vmx, true, KVM, ""},
		{"auto", svm, true, KVM, ""},
		{"auto", none, true, TCG, ""}, // nested: /dev/kvm without vmx/svm hangs guests
		{"auto", vmx, false, TCG, ""},
		{"", nil, false, TCG, ""},
		{"tcg", vmx, true, TCG, ""},
		{"kvm", none, true, KVM, ""},
		{"kvm", vmx, false, "", "/dev/kvm is not usable"},
		{"hvf", vmx, true, "", "want auto, kvm or tcg"},
	}
	for _, tt := range tests {
		got, why, err := ChooseAccel(tt.setting, tt.flags, tt.kvm)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ChooseAccel(%q, %q, %v) error = %v, want one containing %q", tt.setting, tt.flags, tt.kvm, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want || why == "" {
			t.Errorf("ChooseAccel(%q, %q, %v) = %v, %q, %v, want %v with a reason", tt.setting, tt.flags, tt.kvm, got, why, err, tt.want)
		}
	}
}

func TestCPUFlags(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme de svm\nbugs\t\t: sysret_ss_attrs\n\nprocessor\t: 1\nflags\t\t: other\n"
	if got, want := CPUFlags(cpuinfo), []string{"fpu", "vme", "de", "svm"}; !slices.Equal(got, want) {
		t.Errorf("CPUFlags(%q) = %q, want %q", cpuinfo, got, want)
	}
	if got := CPUFlags(""); got != nil {
		t.Errorf("CPUFlags(\"\") = %q, want nil", got)
	}
}

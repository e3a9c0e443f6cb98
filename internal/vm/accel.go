package vm

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
)

// Accel is a QEMU accelerator: how the guest's instructions are run.
type Accel string

// The two accelerators the lab uses.
const (
	// KVM runs the guest on the host CPU's virtualization extensions.
	KVM Accel = "kvm"
	// TCG translates the guest's code in software: slower, but runs anywhere.
	TCG Accel = "tcg"
)

// ChooseAccel picks the accelerator from setting (LAB_ACCEL's value: "",
// "auto", "kvm" or "tcg"), the host CPU's flags (CPUFlags) and whether /dev/kvm
// can be opened, and says why. Auto picks KVM only when /dev/kvm is usable and
// the CPU shows vmx or svm: nested setups can expose /dev/kvm without them, and
// there KVM guests hang instead of failing.
func ChooseAccel(setting string, cpuFlags []string, kvmUsable bool) (Accel, string, error) {
	virt := slices.Contains(cpuFlags, "vmx") || slices.Contains(cpuFlags, "svm")
	switch setting {
	case "", "auto":
		switch {
		case !kvmUsable:
			return TCG, "auto: /dev/kvm is not usable", nil
		case !virt:
			return TCG, "auto: the CPU flags show neither vmx nor svm", nil
		}
		return KVM, "auto: /dev/kvm is usable and the CPU has vmx or svm", nil
	case "kvm":
		if !kvmUsable {
			return "", "", fmt.Errorf("LAB_ACCEL=kvm: /dev/kvm is not usable (unset LAB_ACCEL or set it to tcg)")
		}
		return KVM, "LAB_ACCEL=kvm", nil
	case "tcg":
		return TCG, "LAB_ACCEL=tcg", nil
	}
	return "", "", fmt.Errorf("LAB_ACCEL=%q: want auto, kvm or tcg", setting)
}

// CPUFlags returns the flags of the first processor listed in cpuinfo, the
// text of /proc/cpuinfo.
func CPUFlags(cpuinfo string) []string {
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(name) == "flags" {
			return strings.Fields(value)
		}
	}
	return nil
}

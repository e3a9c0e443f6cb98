//go:build !linux

package vm

import "runtime"

// EnvBoots names the variable that sets how many guests may boot at once.
const EnvBoots = "LAB_VM_BOOTS"

// BootSlots is the number of cores: guests do not boot off Linux.
func BootSlots() int { return runtime.NumCPU() }

type bootSlot struct{}

func (s *bootSlot) release() {}

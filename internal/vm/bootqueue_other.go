//go:build !linux

package vm

import "runtime"

// VarBoots names the variable that sets how many guests may boot at once.
const VarBoots = "LAB_VM_BOOTS"

// BootSlots is the number of cores: guests do not boot off Linux.
func BootSlots() int { return runtime.NumCPU() }

type bootSlot struct{}

func (s *bootSlot) release() {}

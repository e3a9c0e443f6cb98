//go:build !linux

package engine

// HostUlimits returns nil: outside Linux the engines' defaults apply.
func HostUlimits() []Ulimit { return nil }

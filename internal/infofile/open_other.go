//go:build !linux

package infofile

const (
	syscallNoFollow = 0
	syscallNonBlock = 0
)

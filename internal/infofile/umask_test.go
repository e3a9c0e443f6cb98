//go:build unix

package infofile_test

import "syscall"

func umask(m int) int { return syscall.Umask(m) }

//go:build !unix

package infofile_test

func umask(int) int { return 0 }

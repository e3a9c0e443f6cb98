//go:build !linux

package shm

import (
	"errors"
	"os"
)

// ErrUnsupported is returned on systems without this package's Linux calls.
var ErrUnsupported = errors.New("System V shared memory: only Linux is supported")

// Ftok is not supported off Linux.
func Ftok(string, int) (Key, error) { return 0, ErrUnsupported }

// Create is not supported off Linux.
func Create(Key, int, os.FileMode) (int, error) { return -1, ErrUnsupported }

// CreateReclaiming is not supported off Linux.
func CreateReclaiming(Key, int, os.FileMode) (int, error) { return -1, ErrUnsupported }

// Lookup is not supported off Linux.
func Lookup(Key) (int, error) { return -1, ErrUnsupported }

// Attach is not supported off Linux.
func Attach(int, bool) ([]byte, error) { return nil, ErrUnsupported }

// Detach is not supported off Linux.
func Detach([]byte) error { return ErrUnsupported }

// Remove is not supported off Linux.
func Remove(int) error { return ErrUnsupported }

// AttachedByOther is not supported off Linux.
func AttachedByOther(int, int) (bool, error) { return false, ErrUnsupported }

// Chown is not supported off Linux.
func Chown(int, int, int) error { return ErrUnsupported }

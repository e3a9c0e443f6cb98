//go:build !linux

package sock

import (
	"errors"
	"net/netip"
	"time"
)

// ErrUnsupported is returned on systems without this package's Linux calls.
var ErrUnsupported = errors.New("raw sockets with select(2): only Linux is supported")

// Listen is not supported off Linux.
func Listen(netip.Addr, int, int) (int, error) { return -1, ErrUnsupported }

// Accept is not supported off Linux.
func Accept(int, time.Duration, *Waker) (int, error) { return -1, ErrUnsupported }

// Connect is not supported off Linux.
func Connect(netip.Addr, int, time.Duration) (int, error) { return -1, ErrUnsupported }

// ReadUntilEOF is not supported off Linux.
func ReadUntilEOF(int, time.Time, int) ([]byte, error) { return nil, ErrUnsupported }

// WriteAll is not supported off Linux.
func WriteAll(int, []byte) error { return ErrUnsupported }

// SetSendTimeout is not supported off Linux.
func SetSendTimeout(int, time.Duration) error { return ErrUnsupported }

// Close is not supported off Linux.
func Close(int) error { return ErrUnsupported }

// Waker is not supported off Linux.
type Waker struct{}

// NewWaker is not supported off Linux.
func NewWaker() (*Waker, error) { return nil, ErrUnsupported }

// Wake does nothing off Linux.
func (*Waker) Wake() {}

// Sleep is not supported off Linux.
func (*Waker) Sleep(time.Duration) bool { return false }

// Close does nothing off Linux.
func (*Waker) Close() error { return nil }

// BoundPort is not supported off Linux.
func BoundPort(int) (int, error) { return 0, ErrUnsupported }

// FullListener is not supported off Linux.
func FullListener(netip.Addr) (int, func(), error) { return 0, nil, ErrUnsupported }

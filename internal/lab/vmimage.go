package lab

import (
	"context"
	"path/filepath"

	"github.com/isolab/isolab/internal/runenv"
)

func (l *Lab) vmImageDir() string { return filepath.Join(l.Dir, "vm", "image") }

// VMImage builds the binaries and the VM image for this tree's recipe,
// unless it is cached.
func (l *Lab) VMImage(ctx context.Context) error {
	if err := l.Build(ctx); err != nil {
		return err
	}
	_, err := l.vmImage(ctx)
	return err
}

// vmImage builds the guest image when its recipe changed; a warm call only
// hashes it. It needs Debian's mirror, which this process reaches: it never
// enters the lab's namespace, only what it starts does.
func (l *Lab) vmImage(ctx context.Context) (img runenv.VMImage, err error) {
	err = l.Step("vm image", func() error {
		// A build takes a minute or more: its steps print one line each.
		var built bool
		img, built, err = runenv.EnsureVMImage(ctx, l.Root, l.InitBin(), l.vmImageDir(), l.Out)
		if built {
			l.Printf("  built the VM image in %s", img.Dir)
		}
		return err
	})
	return img, err
}

// ConformanceVMGuests is how many guests the conformance harness's VM column
// boots at once: two servers in each of its four cells.
const ConformanceVMGuests = 8

// VMBench boots one guest alone, then ConformanceVMGuests at once, and prints
// what each phase of each boot took; the last line is the single boot's
// ready/init ratio (runenv.BenchVM).
func (l *Lab) VMBench(ctx context.Context) error {
	if err := l.Build(ctx); err != nil {
		return err
	}
	img, err := l.vmImage(ctx)
	if err != nil {
		return err
	}
	return runenv.BenchVM(ctx, l.Out, img, l.ServerBin(), ConformanceVMGuests)
}

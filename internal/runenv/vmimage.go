package runenv

import (
	"context"
	"io"

	"github.com/isolab/isolab/internal/vm"
)

// VMImage is a guest image: Debian's kernel and the guest's root file
// system, built by scripts/vm-image.sh (see internal/vm).
type VMImage = vm.Image

// VMImageConfig says how to build a guest image and where to keep it.
type VMImageConfig = vm.ImageConfig

// EnsureVMImage returns the guest image cfg describes, building it first when
// its recipe changed (vm.EnsureImage); built says whether it did.
func EnsureVMImage(ctx context.Context, cfg VMImageConfig) (img VMImage, built bool, err error) {
	return vm.EnsureImage(ctx, cfg)
}

// BenchVM boots one guest alone, then guests at once, each running server,
// and prints what each phase of each boot took to w; the last line is the
// single boot's ready/init ratio (vm.Report).
func BenchVM(ctx context.Context, w io.Writer, img VMImage, server string, guests int) error {
	return vm.Report(ctx, w, img, server, guests)
}

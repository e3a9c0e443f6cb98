package runenv

import (
	"context"
	"io"
	"path/filepath"

	"github.com/isolab/isolab/internal/vm"
)

// VMImage is a guest image: Debian's kernel and the guest's root file
// system, built by scripts/vm-image.sh (see internal/vm).
type VMImage = vm.Image

// EnsureVMImage returns the guest image of the tree at root, with init (its
// static lab-init) as the guests' PID 1, cached in dir: built first when its
// recipe changed (vm.EnsureImage), which built says; the build's output goes
// to log. The build needs Debian's mirror: run it outside a lab's namespace.
func EnsureVMImage(ctx context.Context, root, init, dir string, log io.Writer) (img VMImage, built bool, err error) {
	return vm.EnsureImage(ctx, vm.ImageConfig{Script: filepath.Join(root, "scripts", "vm-image.sh"), Init: init, Dir: dir, Log: log})
}

// BenchVM boots one guest alone, then guests at once, each running server,
// and prints what each phase of each boot took to w; the last line is the
// single boot's ready/init ratio (vm.Report).
func BenchVM(ctx context.Context, w io.Writer, img VMImage, server string, guests int) error {
	return vm.Report(ctx, w, img, server, guests)
}

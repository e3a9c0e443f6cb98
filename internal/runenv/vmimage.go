package runenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"

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
// prints what each phase of each boot took to w, and returns the single
// boot's ready/init ratio (vm.Boot.Ratio) as the last line. QEMU runs in an
// empty network namespace: nothing connects to the guests.
func BenchVM(ctx context.Context, w io.Writer, img VMImage, server string, guests int) error {
	accel, why, err := vm.DetectAccel()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "vm:bench: accelerator %s (%s), %d cores, %d guests boot at a time (%s)\n", accel, why, runtime.NumCPU(), vm.BootSlots(), vm.VarBoots)
	work, err := os.MkdirTemp("", "isolab-vm-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cfg := vm.BenchConfig{Image: img, Server: server, WorkDir: work, Accel: accel, Prefix: []string{"unshare", "--net", "--"}}
	one, err := vm.Bench(ctx, cfg, 1)
	if err != nil {
		return err
	}
	vm.WriteBench(w, "one guest", one)
	many, err := vm.Bench(ctx, cfg, guests)
	if err != nil {
		return err
	}
	vm.WriteBench(w, fmt.Sprintf("%d guests at once, as the conformance VM column boots them", len(many)), many)
	fmt.Fprintf(w, "ready/init ratio: %.2f\n", one[0].Ratio())
	return nil
}

package runenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/isolab/isolab/internal/shell"
	"github.com/isolab/isolab/internal/vm"
)

// apptainerRoot is the Runner's Apptainer image for untrusted servers:
// the VM image's Debian root file system as a directory, made once.
type apptainerRoot struct {
	once sync.Once
	dir  string
	err  error
}

// ApptainerRoot is the image a submission's server runs in under Apptainer:
// the very Debian system the guests boot and the containers of
// Dockerfile.submission have (a shell for system(3), /etc, NSS), as an
// unpacked directory under the Runner's Dir, made once per Runner and
// removed at Close. A directory, not a SIF: a SIF that an ordinary user
// runs is mounted with squashfuse, which needs /dev/fuse, or unpacked again
// for each run (--unsquash); a directory is used as it is, read-only.
func (r *Runner) ApptainerRoot(ctx context.Context) (string, error) {
	r.mu.Lock()
	if r.appRoot == nil {
		r.appRoot = &apptainerRoot{}
	}
	ar := r.appRoot
	r.mu.Unlock()
	ar.once.Do(func() {
		img := r.cfg.VMImage
		if img.Initrd == "" || img.Key == "" {
			ar.err = fmt.Errorf("a submission's Apptainer image is the VM image's root file system, and there is no VM image")
			return
		}
		ar.dir = filepath.Join(r.cfg.Dir, "apptainer-root-"+img.Key[:min(12, len(img.Key))])
		ar.err = unpackRoot(ctx, img, ar.dir)
	})
	return ar.dir, ar.err
}

// unpackRoot writes img's root file system to dir, through a temporary
// tar file (tar keeps owners, modes and links as the archive has them).
func unpackRoot(ctx context.Context, img vm.Image, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dir), "root-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = img.WriteRootTar(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if _, err := shell.Run(ctx, shell.Command{Argv: []string{"tar", "-C", dir, "-xf", tmp.Name()}}); err != nil {
		return fmt.Errorf("unpack the Apptainer root %s: %w", dir, err)
	}
	return nil
}

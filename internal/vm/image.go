package vm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/isolab/isolab/internal/shell"
)

// Image is a built guest image in its cache directory: Debian's kernel and
// the guest's whole root file system as an initramfs, with lab-init as PID 1.
// It holds no server: guests run one from the shared directory.
type Image struct {
	Dir    string // the cache directory
	Kernel string // the image's kernel, unpacked
	Initrd string // the root file system, an uncompressed initramfs
	Key    string // ImageKey of the inputs it was built from
}

// ImageConfig says how to build the guest image and where to keep it.
type ImageConfig struct {
	Script string    // scripts/vm-image.sh; its guest files are in scripts/vm/ beside it
	Init   string    // the static lab-init binary (cmd/lab-init), the guest's PID 1
	Dir    string    // cache directory, e.g. lab/vm/image
	Log    io.Writer // receives the script's progress lines; nil discards them
}

// keyFile records, in the cache directory, the key of the image there.
const keyFile = "key"

// ImageAt names the files of the image in dir, built or not.
func ImageAt(dir string) Image {
	return Image{
		Dir:    dir,
		Kernel: filepath.Join(dir, "vmlinux"),
		Initrd: filepath.Join(dir, "initrd.img"),
	}
}

// ImageKey hashes every input of the image, its recipe: the script, each file
// under the vm/ directory beside it (package list and guest files: path, mode
// and content) and the lab-init binary. Any change means a rebuild; the
// server is not an input.
func ImageKey(script, init string) (string, error) {
	h := sha256.New()
	add := func(name, path string, mode fs.FileMode) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("hash VM image input: %w", err)
		}
		fmt.Fprintf(h, "%s %o %d\n", name, mode.Perm(), len(b))
		h.Write(b)
		return nil
	}
	if err := add("script", script, 0); err != nil {
		return "", err
	}
	if err := add("init", init, 0); err != nil {
		return "", err
	}
	guest := filepath.Join(filepath.Dir(script), "vm")
	err := filepath.WalkDir(guest, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(guest, path)
		return add("vm/"+filepath.ToSlash(rel), path, info.Mode())
	})
	if err != nil {
		return "", fmt.Errorf("hash VM image inputs under %s: %w", guest, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Cached reports whether dir holds a complete image built with key.
func Cached(dir, key string) bool {
	b, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil || strings.TrimSpace(string(b)) != key {
		return false
	}
	img := ImageAt(dir)
	for _, f := range []string{img.Kernel, img.Initrd} {
		if _, err := os.Stat(f); err != nil {
			return false
		}
	}
	return true
}

// EnsureImage returns the image in cfg.Dir, running cfg.Script first when the
// inputs changed since it was built (or it never was). built reports whether
// the script ran. The script needs root and mmdebstrap; a warm call costs a
// hash of the inputs.
func EnsureImage(ctx context.Context, cfg ImageConfig) (img Image, built bool, err error) {
	key, err := ImageKey(cfg.Script, cfg.Init)
	if err != nil {
		return Image{}, false, err
	}
	img = ImageAt(cfg.Dir)
	img.Key = key
	if Cached(cfg.Dir, key) {
		return img, false, nil
	}
	unlock, err := lockDir(cfg.Dir)
	if err != nil {
		return Image{}, false, fmt.Errorf("build VM image: %w", err)
	}
	defer unlock()
	if Cached(cfg.Dir, key) { // built by another process while we waited
		return img, false, nil
	}
	// No key while the files change: an interrupted build is not taken for
	// a good one next time.
	if err := os.Remove(filepath.Join(cfg.Dir, keyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Image{}, false, fmt.Errorf("invalidate VM image: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = io.Discard
	}
	if _, err := shell.Run(ctx, shell.Command{Argv: []string{"bash", cfg.Script, cfg.Init, cfg.Dir}, Log: log}); err != nil {
		return Image{}, false, fmt.Errorf("build VM image: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, keyFile), []byte(key+"\n"), 0o644); err != nil {
		return Image{}, false, fmt.Errorf("record VM image key: %w", err)
	}
	if !Cached(cfg.Dir, key) {
		return Image{}, false, fmt.Errorf("build VM image with %s: it did not write %s and %s",
			cfg.Script, img.Kernel, img.Initrd)
	}
	return img, true, nil
}

// ShareBinary copies the static binary bin onto the share, as
// share/bin/HASH-NAME, and returns the copy's path: a guest mounts the share
// at the same path and runs it (Config.ServerBinary), since the image holds
// no server. The content hash in the name keeps two builds apart.
func ShareBinary(share, bin string) (string, error) {
	b, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	p := filepath.Join(share, "bin", hex.EncodeToString(sum[:6])+"-"+filepath.Base(bin))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	// Written aside and renamed: a guest of another run may be reading it.
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		return "", fmt.Errorf("copy %s onto the share: %w", bin, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // past the umask
		return "", err
	}
	return p, os.Rename(tmp, p)
}

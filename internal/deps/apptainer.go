package deps

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/isolab/isolab/internal/shell"
)

// ApptainerPackages are the Debian packages a relocatable Apptainer build
// needs at run time (../shared/apptainer/README.md): SIF mounts, user
// namespaces (uidmap, in Packages) and --fakeroot. Program "" means only
// dpkg can tell.
var ApptainerPackages = []Package{
	{"libseccomp2", ""}, {"libsubid4", ""}, {"squashfs-tools", "mksquashfs"}, {"squashfuse", "squashfuse"},
	{"fuse2fs", "fuse2fs"}, {"fuse-overlayfs", "fuse-overlayfs"}, {"fakeroot", "fakeroot"},
}

// ApptainerDir is where root's copy of a shared Apptainer build goes, with
// apptainer and singularity linked into /usr/local/bin.
const ApptainerDir = "/opt/isolab-apptainer"

// LabApptainer is where an ordinary user's copy goes, under the lab's
// directory of the checkout: UseLabApptainer puts it on the lab's PATH.
var LabApptainer = filepath.Join("lab", "apptainer")

// SharedApptainer is the relocatable Apptainer build this project's machines
// and CI have beside the checkout (read-only there, so it is copied).
var SharedApptainer = filepath.Join("..", "shared", "apptainer")

// ProvideApptainer makes an apptainer command available: one already on
// PATH is used as it is; else a copy of SharedApptainer (when it exists)
// goes to ApptainerDir as root, to LabApptainer otherwise; else it says in
// one line how to get one. Each step prints one line with its duration.
func ProvideApptainer(ctx context.Context, out io.Writer) error {
	if _, err := exec.LookPath("apptainer"); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(SharedApptainer, "bin", "apptainer")); err != nil {
		fmt.Fprintln(out, "apptainer not found (the lab leaves out its Apptainer servers): install the Apptainer project's release package, https://apptainer.org/docs/admin/main/installation.html")
		return nil
	}
	start := time.Now()
	dst := LabApptainer
	if os.Geteuid() == 0 {
		dst = ApptainerDir
	}
	if err := copyTree(ctx, SharedApptainer, dst); err != nil {
		return fmt.Errorf("copy Apptainer from %s: %w", SharedApptainer, err)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(out, "copied Apptainer from %s to %s %s (the lab's targets use it; for a shell: export PATH=$PWD/%s/bin:$PATH)\n",
			SharedApptainer, dst, time.Since(start).Round(100*time.Millisecond), dst)
		return UseLabApptainer()
	}
	for _, name := range []string{"apptainer", "singularity"} {
		link := filepath.Join("/usr/local/bin", name)
		os.Remove(link)
		if err := os.Symlink(filepath.Join(dst, "bin", "apptainer"), link); err != nil {
			return fmt.Errorf("link Apptainer: %w", err)
		}
	}
	fmt.Fprintf(out, "installed Apptainer from %s in %s (apptainer, singularity in /usr/local/bin) %s\n",
		SharedApptainer, dst, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// UseLabApptainer puts LabApptainer's bin first on this process's PATH when
// no apptainer is on it and a copy is there, so that the lab's targets
// and the programs they start find it.
func UseLabApptainer() error {
	if _, err := exec.LookPath("apptainer"); err == nil {
		return nil
	}
	bin, err := filepath.Abs(filepath.Join(LabApptainer, "bin"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(bin, "apptainer")); err != nil {
		return nil
	}
	return os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// copyTree copies src to dst with cp -a (symlinks and modes as they are),
// writable by its owner, since Apptainer keeps session state under its own
// var/: to dst.new first, so that a copy cut short is never dst.
func copyTree(ctx context.Context, src, dst string) error {
	tmp := dst + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if _, err := shell.Run(ctx, shell.Command{Argv: []string{"cp", "-a", src, tmp}}); err != nil {
		return err
	}
	err := filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.Chmod(p, info.Mode().Perm()|0o200)
	})
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

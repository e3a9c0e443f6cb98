package deps

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isolab/isolab/internal/shell"
)

// Package is a Debian package isolab uses, and a program it provides.
type Package struct {
	Name    string
	Program string // a command on $PATH, or an absolute path
}

// Packages are the Debian packages isolab uses. A machine that has a
// package's program from elsewhere (Docker's own docker-ce, as on a GitHub
// runner, where docker.io would conflict) needs no package.
//
// Podman's network stack is named: without recommends, apt would satisfy its
// container-network-stack with the older CNI plugins, not netavark, which the
// lab was measured with. The Debian keyring lets mmdebstrap build the VM
// image on a distribution other than Debian.
var Packages = []Package{
	{"docker.io", "dockerd"}, {"podman", "podman"},
	{"netavark", "/usr/lib/podman/netavark"}, {"aardvark-dns", "/usr/lib/podman/aardvark-dns"}, {"uidmap", "newuidmap"},
	{"qemu-system-x86", "qemu-system-x86_64"}, {"mmdebstrap", "mmdebstrap"}, {"cpio", "cpio"}, {"xz-utils", "xz"},
	{"debian-archive-keyring", "/usr/share/keyrings/debian-archive-keyring.gpg"},
	{"iproute2", "ip"}, {"util-linux", "nsenter"}, {"gcc", "gcc"}, {"g++", "g++"}, {"make", "make"},
}

// Install installs the missing Packages and ApptainerPackages with apt-get
// when run as root on a system that has apt-get and dpkg, printing one line
// with its duration to out (and apt-get's output too with verbose);
// otherwise it prints the one command to run. Then it provides Apptainer
// (ProvideApptainer).
func Install(ctx context.Context, out io.Writer, verbose bool) error {
	if err := installPackages(ctx, out, verbose); err != nil {
		return err
	}
	return ProvideApptainer(ctx, out)
}

func installPackages(ctx context.Context, out io.Writer, verbose bool) error {
	missing := Missing()
	if len(missing) == 0 {
		return nil
	}
	line := "apt-get install -y " + strings.Join(missing, " ")
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		fmt.Fprintf(out, "missing packages; run as root: apt-get update && %s\n", line)
		return nil
	}
	start := time.Now()
	apt := func(args ...string) error {
		c := shell.Command{Argv: append([]string{"apt-get"}, args...), Env: []string{"DEBIAN_FRONTEND=noninteractive"}}
		if verbose {
			c.Log = out
		}
		_, err := shell.Run(ctx, c)
		return err
	}
	if err := apt("update"); err != nil {
		return fmt.Errorf("install %s: %w", strings.Join(missing, " "), err)
	}
	if err := apt(append([]string{"install", "-y", "--no-install-recommends"}, missing...)...); err != nil {
		return fmt.Errorf("install %s: %w", strings.Join(missing, " "), err)
	}
	fmt.Fprintf(out, "installed %s %s\n", strings.Join(missing, " "), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// Missing lists the Packages and ApptainerPackages whose program is not there and that dpkg
// does not know as installed (without dpkg: whose program is not there).
func Missing() []string {
	var missing []string
	for _, p := range append(slices.Clone(Packages), ApptainerPackages...) {
		if !found(p.Program) && !installed(p.Name) {
			missing = append(missing, p.Name)
		}
	}
	return missing
}

func found(program string) bool {
	if program == "" {
		return false
	}
	if filepath.IsAbs(program) {
		_, err := os.Stat(program)
		return err == nil
	}
	_, err := exec.LookPath(program)
	return err == nil
}

func installed(pkg string) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	return err == nil && strings.Contains(string(out), "install ok installed")
}

package deps

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/isolab/isolab/internal/shell"
)

// Packages are the Debian packages isolab uses.
//
// Podman's network stack is named: without recommends, apt would satisfy its
// container-network-stack with the older CNI plugins, not netavark, which the
// lab was measured with.
var Packages = []string{
	"docker.io", "podman", "netavark", "aardvark-dns", "uidmap",
	"qemu-system-x86", "mmdebstrap", "cpio", "xz-utils",
	"iproute2", "util-linux", "gcc", "g++", "make",
}

// Install installs the missing Packages with apt-get when run as root on a
// system that has apt-get and dpkg, printing one line with its duration to
// out (and apt-get's output too with verbose); otherwise it prints the one
// command to run.
func Install(ctx context.Context, out io.Writer, verbose bool) error {
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

// Missing asks dpkg which of Packages are not installed; without dpkg it
// takes all to be missing.
func Missing() []string {
	var missing []string
	for _, p := range Packages {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", p).Output()
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	return missing
}

package lab

import (
	"context"
	"os"
	"os/exec"
	"strings"
)

// Packages are the Debian packages the lab uses: the container engines, QEMU
// and the tools that build the VM image, and the namespace tools.
//
// Podman's network stack is named: without recommends, apt would satisfy its
// container-network-stack with the older CNI plugins, not netavark, which the
// lab was measured with.
var Packages = []string{
	"docker.io", "podman", "netavark", "aardvark-dns", "uidmap",
	"qemu-system-x86", "mmdebstrap", "cpio", "xz-utils",
	"iproute2", "util-linux", "gcc", "g++",
}

// Deps installs the missing Packages with apt-get when run as root on a system
// that has apt-get and dpkg; otherwise it prints the one command to run.
func (l *Lab) Deps(ctx context.Context) error {
	missing := missingPackages()
	if len(missing) == 0 {
		return nil
	}
	line := "apt-get install -y " + strings.Join(missing, " ")
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		l.Printf("missing packages; run as root: apt-get update && %s", line)
		return nil
	}
	return l.Step("installed "+strings.Join(missing, " "), func() error {
		env := []string{"DEBIAN_FRONTEND=noninteractive"}
		if err := l.run(ctx, env, "apt-get", "update"); err != nil {
			return err
		}
		return l.run(ctx, env, append([]string{"apt-get", "install", "-y", "--no-install-recommends"}, missing...)...)
	})
}

// missingPackages asks dpkg which of Packages are not installed; without dpkg
// it assumes all are missing.
func missingPackages() []string {
	var missing []string
	for _, p := range Packages {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", p).Output()
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	return missing
}

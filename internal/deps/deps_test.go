package deps

import (
	"os/exec"
	"slices"
	"testing"
)

// On a machine with dpkg, a package that dpkg lists as installed is not
// missing, and one it does not know is.
func TestMissing(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("dpkg-query not found: not a Debian system")
	}
	defer func(p []string) { Packages = p }(Packages)
	Packages = []string{"dpkg", "isolab-no-such-package"}
	if got := Missing(); !slices.Equal(got, []string{"isolab-no-such-package"}) {
		t.Errorf("Missing() = %q, want only the unknown package", got)
	}
}

package deps

import (
	"os/exec"
	"slices"
	"testing"
)

// A package whose program is there is not missing, whatever dpkg says; one
// whose program is not and that dpkg does not know is.
func TestMissing(t *testing.T) {
	defer func(p, a []Package) { Packages, ApptainerPackages = p, a }(Packages, ApptainerPackages)
	ApptainerPackages = nil
	Packages = []Package{{"isolab-no-such-package", "sh"}, {"isolab-no-such-package-2", "/no/such/program"}, {"isolab-no-such-package-3", "isolab-no-such-program"}}
	if got := Missing(); !slices.Equal(got, []string{"isolab-no-such-package-2", "isolab-no-such-package-3"}) {
		t.Errorf("Missing() = %q, want the two whose programs are absent", got)
	}
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("dpkg-query not found: not a Debian system")
	}
	Packages = []Package{{"dpkg", "/no/such/program"}}
	if got := Missing(); len(got) != 0 {
		t.Errorf("Missing() = %q for dpkg itself, want nothing: dpkg lists it as installed", got)
	}
}

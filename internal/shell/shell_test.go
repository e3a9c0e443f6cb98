package shell

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"docker", "run", "--name=isolab-c1", "/srv/lab"}, "docker run --name=isolab-c1 /srv/lab"},
		{[]string{"echo", ""}, "echo ''"},
		{[]string{"echo", "a b"}, "echo 'a b'"},
		{[]string{"echo", "it's"}, `echo 'it'\''s'`},
		{[]string{"echo", "$HOME", "`x`", "a;b"}, `echo '$HOME' '` + "`x`" + `' 'a;b'`},
	}
	for _, tt := range tests {
		if got := Quote(tt.argv); got != tt.want {
			t.Errorf("Quote(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}

// TestQuoteRoundTrip has sh split each line again.
func TestQuoteRoundTrip(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("sh not found (try: apt-get install dash)")
	}
	argv := []string{"printf", `%s\n`, "", "a b", "it's", "$HOME", "tab\there", "ünï", `back\slash`, "*"}
	out, err := exec.Command("sh", "-c", Quote(argv)).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if want := argv[2:]; !slices.Equal(got, want) {
		t.Errorf("sh -c %q printed %q, want %q", Quote(argv), got, want)
	}
}

package infofile_test

import (
	"strings"
	"testing"

	"github.com/isolab/isolab/internal/infofile"
)

// FuzzParse checks that Parse never panics on hostile input and that whatever it
// accepts survives Format: Parse(Format(info)) == info. The seeds (here and in
// testdata/fuzz/FuzzParse) run in every go test.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"10.0.0.7\n4242\n/srv/shm\n65\n",
		"10.0.0.7\r\n4242\r\n/srv/shm\r\n65\r\n",
		"127.0.0.1\n1\n/\n1",
		"255.255.255.255\n65535\n/tmp/x y\n-1\n",
		"1.2.3.4\n+80\n/p\n0x41\n",
		"1.2.3.4\n0080\n/p\n00065\n",
		"::1\n80\n/p\n1\n",
		"1.2.3.4\n80\n\n1\n",
		"1.2.3.4\n80\n/p\n256\n",
		"1.2.3.4\n80\n/p\r\n1\r",
		"\n\n\n\n",
		"",
		"1.2.3.4\n80\n" + strings.Repeat("p", 4083) + "\n1", // 4096 bytes without the last newline
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := infofile.Parse(data)
		if err != nil {
			if info != (infofile.Info{}) {
				t.Fatalf("Parse(%.200q) = %+v, %v: an error with a non-zero Info", data, info, err)
			}
			return
		}
		if err := infofile.Validate(info); err != nil {
			t.Fatalf("Parse(%.200q) = %+v, which Validate rejects: %v", data, info, err)
		}
		out := infofile.Format(info)
		back, err := infofile.Parse(out)
		if err != nil || back != info {
			t.Fatalf("Parse(Format(Parse(%.200q))) = %+v, %v, want %+v", data, back, err, info)
		}
	})
}

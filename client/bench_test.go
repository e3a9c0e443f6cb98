package client_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/isolab/isolab/client"
	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/testnet"
)

// BenchmarkProbeHanging probes N servers whose connects all hang until the
// timeout (one backlog-0 listener with a full queue). Probes run concurrently,
// so a round costs about one timeout whatever N: s/round stays near 0.2.
func BenchmarkProbeHanging(b *testing.B) {
	opt := client.Options{ConnectTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond}
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			leakcheck.Check(b)
			dir := b.TempDir()
			full := testnet.FullListener(b)
			for i := range n {
				fake{Name: fmt.Sprintf("s%03d", i), NoPath: true, Port: int(full.Port())}.start(b, dir)
			}
			rounds := 0
			start := time.Now()
			for b.Loop() {
				res, err := client.Probe(dir, opt)
				if err != nil || res.VM != n {
					b.Fatalf("Probe = %+v, %v, want %d VMs", res.Report, err, n)
				}
				rounds++
			}
			b.ReportMetric(time.Since(start).Seconds()/float64(rounds), "s/round")
		})
	}
}

// BenchmarkProbeHosts probes 256 host servers that answer on both channels: real
// segments and loopback listeners that send a message and close. Target: under
// 0.5 s per round.
func BenchmarkProbeHosts(b *testing.B) {
	const n = 256
	leakcheck.Check(b)
	dir := b.TempDir()
	for i := range n {
		fake{Name: fmt.Sprintf("h%03d", i), Shm: str(fmt.Sprintf("shm%d", i)), Serve: sendAndClose(fmt.Sprintf("sock%d", i))}.start(b, dir)
	}
	rounds := 0
	start := time.Now()
	for b.Loop() {
		res, err := client.Probe(dir, client.Options{})
		if err != nil || res.Host != n || len(res.Messages) != 2*n {
			b.Fatalf("Probe = %d hosts, %d messages, %v; want %d, %d", res.Host, len(res.Messages), err, n, 2*n)
		}
		rounds++
	}
	perRound := time.Since(start).Seconds() / float64(rounds)
	b.ReportMetric(perRound, "s/round")
	b.ReportMetric(n/perRound, "servers/s")
}

package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isolab/isolab/internal/gobuild"
	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/labnet/labnettest"
	"github.com/isolab/isolab/internal/leakcheck"
	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/shm"
)

// The integration tests run the real server image in Docker and in Podman,
// in a lab network of the test's own (internal/labnet/labnettest): a private
// dockerd, or Podman run inside the namespace, whose bridges are the
// namespace's own. They need root (the bound directory is handed to another
// uid).

func TestIntegrationDocker(t *testing.T) { testIntegration(t, Docker) }

func TestIntegrationPodman(t *testing.T) { testIntegration(t, Podman) }

// testNet is the namespace of the test that runs, where its containers'
// bridge is: the test's own connections go there.
var testNet string

// engineOrSkip returns a live engine of kind k in a lab network of the
// test's own, or skips with the cause and fix.
func engineOrSkip(t testing.TB, k Kind) *Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("integration test: needs Linux, this is %s", runtime.GOOS)
	}
	e, err := New(k)
	if err != nil {
		t.Skipf("integration test: %v", err)
	}
	n := labnettest.New(t, k == Docker)
	testNet = n.Path()
	if k == Docker {
		e.Prefix = []string{"env", "DOCKER_HOST=" + n.DockerHost()}
	} else {
		e.Prefix = netns.Enter(n.Path())
	}
	if err := e.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	e.Log = &log
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s commands and output:\n%s", k, log.String())
		}
	})
	return e
}

// buildServer compiles the static server into a fresh directory, the build
// context of images/Dockerfile.
func buildServer(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	root, err := gobuild.Root(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gobuild.Static(context.Background(), root, dir, gobuild.Server); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testIntegration(t *testing.T, k Kind) {
	e := engineOrSkip(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	leaks := leakcheck.Check(t)

	// Image: built once, then found by its hash.
	spec := BuildSpec{
		Repo:    "localhost/isolab-enginetest",
		File:    filepath.Join(imagesDir, "Dockerfile"),
		Context: buildServer(t),
		Inputs:  []string{"server"},
	}
	start := time.Now()
	img, err := e.Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	buildTime := time.Since(start)
	t.Cleanup(func() {
		rmi, _ := RemoveImagesArgv(k, img.Ref)
		if err := e.run(context.Background(), rmi, io.Discard); err != nil {
			t.Errorf("remove image: %v", err)
		}
	})
	// A label of this run's own, so that cleanup touches nothing else. The
	// containers go first (cleanups run last-in first-out), then the image.
	runLabel := fmt.Sprintf("isolab.test=%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		if _, err := e.RemoveAll(ctx, runLabel); err != nil {
			t.Errorf("remove the test's containers: %v", err)
		}
		if left, err := e.List(ctx, runLabel); err != nil || len(left) > 0 {
			t.Errorf("containers left behind: %q, %v", left, err)
		}
	})

	start = time.Now()
	again, err := e.Build(ctx, spec)
	if err != nil || again.Built || again.Ref != img.Ref {
		t.Errorf("second Build = %+v, %v; want %s found, not built", again, err, img.Ref)
	}
	cachedTime := time.Since(start)
	sizeOut, err := e.output(ctx, []string{string(k), "image", "inspect", "--format={{.Size}}", img.Ref})
	if err != nil {
		t.Fatal(err)
	}
	size, _ := strconv.ParseInt(strings.TrimSpace(sizeOut), 10, 64)
	if size <= 0 || size >= 5<<20 {
		t.Errorf("image %s is %d bytes, want under 5 MB", img.Ref, size)
	}
	t.Logf("%s: image %s %.2f MB, build %v (built=%v), cached build check %v", k, img.Ref, float64(size)/1e6, buildTime.Round(time.Millisecond), img.Built, cachedTime.Round(time.Millisecond))

	// The shared directory belongs to a uid that is neither root nor the image's.
	const uid, gid = 4321, 4322
	shared := t.TempDir()
	if err := os.Chown(shared, uid, gid); err != nil {
		t.Fatal(err)
	}
	srv := func(name string, projID int, opts ...Option) (Spec, string) {
		shmPath := filepath.Join(shared, "shm-"+name)
		if err := os.WriteFile(shmPath, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"-port", "7001", "-shm-path", shmPath, "-proj-id", strconv.Itoa(projID),
			"-info-dir", shared, "-info-name", name, "-shm-msg", "shm " + name, "-socket-msg", "socket " + name,
			"-accept-timeout", "60s"}
		opts = append([]Option{WithUser(uid, gid), WithSharedDir(shared), WithLabel("isolab.test", strings.TrimPrefix(runLabel, "isolab.test=")),
			WithContainerName(fmt.Sprintf("isolab-test-%d-%s", os.Getpid(), name)), WithArgs(args...)}, opts...)
		return NewSpec(k, name, img.Ref, opts...), filepath.Join(shared, name)
	}
	keyOf := func(path string, projID int) shm.Key {
		key, err := shm.Ftok(path, projID)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}

	t.Run("ipc host on the bridge", func(t *testing.T) {
		s, infoPath := srv("c1", 11, WithIPC(IPCHost), WithNetwork(NetworkBridge))
		start := time.Now()
		id, err := e.Run(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		runTime := time.Since(start)
		info := waitInfo(t, infoPath, uid, gid)
		upTime := time.Since(start)

		key := keyOf(info.ShmPath, info.ProjID)
		segID, err := shm.Lookup(key)
		if err != nil {
			t.Fatalf("segment %s of an --ipc=host container is not visible from the host: %v", key, err)
		}
		seg, err := shm.Attach(segID, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := shm.Message(seg); got != "shm c1" {
			t.Errorf("segment message = %q, want %q", got, "shm c1")
		}
		if err := shm.Detach(seg); err != nil {
			t.Fatal(err)
		}

		st, err := e.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running() || !slices.Contains(st.IPs, info.IP.String()) {
			t.Errorf("Inspect = %+v, want running at %s (the info file's address)", st, info.IP)
		}
		if got := readSocket(t, net.JoinHostPort(info.IP.String(), strconv.Itoa(info.Port))); got != "socket c1" {
			t.Errorf("socket message = %q, want %q", got, "socket c1")
		}
		// One client served: the server cleans up and exits 0 by itself.
		st = waitExit(t, e, id)
		if st.ExitCode != 0 {
			t.Errorf("server exited %d, want 0", st.ExitCode)
		}
		assertGone(t, infoPath, int32(key))
		logPath := filepath.Join(t.TempDir(), "c1.log")
		if err := e.Logs(ctx, id, logPath); err != nil {
			t.Error(err)
		}
		t.Logf("%s: run returned in %v, info file after %v (%s:%d)", k, runTime.Round(time.Millisecond), upTime.Round(time.Millisecond), info.IP, info.Port)
	})

	t.Run("private ipc without network, stopped", func(t *testing.T) {
		s, infoPath := srv("c2", 12, WithIPC(IPCPrivate), WithNetwork(NetworkNone))
		id, err := e.Run(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		info := waitInfo(t, infoPath, uid, gid)
		if info.IP.String() != "127.0.0.1" {
			t.Errorf("server without network listens on %s, want 127.0.0.1", info.IP)
		}
		key := keyOf(info.ShmPath, info.ProjID)
		if _, err := shm.Lookup(key); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("segment %s of a private-IPC container: Lookup from the host = %v, want ENOENT", key, err)
		}
		start := time.Now()
		if err := e.Stop(ctx, 10*time.Second, id); err != nil {
			t.Fatal(err)
		}
		stopTime := time.Since(start)
		st, err := e.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Running() || st.ExitCode != 0 {
			t.Errorf("after SIGTERM: %+v, want exited 0", st)
		}
		assertGone(t, infoPath, 0)
		t.Logf("%s: stop took %v", k, stopTime.Round(time.Millisecond))
	})

	t.Run("RemoveAll reaps a running server", func(t *testing.T) {
		s, infoPath := srv("c3", 13)
		if _, err := e.Run(ctx, s); err != nil {
			t.Fatal(err)
		}
		waitInfo(t, infoPath, uid, gid)
		start := time.Now()
		ids, err := e.RemoveAll(ctx, runLabel)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 3 {
			t.Errorf("RemoveAll removed %d containers, want the 3 of this test", len(ids))
		}
		if left, err := e.List(ctx, runLabel); err != nil || len(left) != 0 {
			t.Errorf("after RemoveAll: %q, %v; want none", left, err)
		}
		t.Logf("%s: RemoveAll of 3 took %v", k, time.Since(start).Round(time.Millisecond))
		// SIGKILL leaves the info file: reaping it is the lab's job.
		os.Remove(infoPath)
	})

	if segs := leaks.New(); len(segs) > 0 {
		t.Errorf("segments left: %+v", segs)
	}
}

// waitInfo waits for the server's info file and checks that it belongs to
// uid:gid.
func waitInfo(t *testing.T, path string, uid, gid int) infofile.Info {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			info, err := infofile.Parse(data)
			if err != nil {
				t.Fatalf("info file %s: %v", path, err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if int(st.Uid) != uid || int(st.Gid) != gid {
				t.Errorf("info file %s belongs to %d:%d, want %d:%d (--user)", path, st.Uid, st.Gid, uid, gid)
			}
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("no info file %s after 20s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readSocket(t *testing.T, addr string) string {
	t.Helper()
	var c net.Conn
	err := netns.Do(testNet, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, 5*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("connect to the container at %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return strings.TrimRight(string(b), "\x00\n")
}

func waitExit(t *testing.T, e *Engine, id string) State {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := e.Inspect(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status == "exited" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %s after 20s", id, st.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertGone checks that the server removed its info file and, for a key
// other than 0, its segment.
func assertGone(t *testing.T, infoPath string, key int32) {
	t.Helper()
	if _, err := os.Stat(infoPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("info file %s still there after the server exited: %v", infoPath, err)
	}
	if key != 0 && leakcheck.HasKey(key) {
		t.Errorf("segment 0x%08x still there after the server exited", uint32(key))
	}
}

// BenchmarkRunStop measures one server container's life as the lab sees it:
// from run to its info file (s/up), SIGTERM to exit (s/stop), and removal.
func BenchmarkRunStop(b *testing.B) {
	for _, k := range []Kind{Docker, Podman} {
		b.Run(string(k), func(b *testing.B) {
			e := engineOrSkip(b, k)
			ctx := context.Background()
			dir := buildServer(b)
			img, err := e.Build(ctx, BuildSpec{Repo: "localhost/isolab-enginebench", File: filepath.Join(imagesDir, "Dockerfile"), Context: dir, Inputs: []string{"server"}})
			if err != nil {
				b.Fatal(err)
			}
			label := fmt.Sprintf("isolab.bench=%d", os.Getpid())
			b.Cleanup(func() {
				e.RemoveAll(context.Background(), label)
				rmi, _ := RemoveImagesArgv(k, img.Ref)
				e.run(context.Background(), rmi, io.Discard)
			})
			shared := b.TempDir()
			shmPath := filepath.Join(shared, "shm")
			if err := os.WriteFile(shmPath, nil, 0o644); err != nil {
				b.Fatal(err)
			}
			var up, stop time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				name := fmt.Sprintf("b%d", i)
				s := NewSpec(k, name, img.Ref, WithUser(0, 0), WithSharedDir(shared), WithIPC(IPCPrivate),
					WithLabel("isolab.bench", strconv.Itoa(os.Getpid())), WithContainerName(fmt.Sprintf("isolab-bench-%d-%d", os.Getpid(), i)),
					WithArgs("-port", "7001", "-shm-path", shmPath, "-proj-id", "1", "-info-dir", shared, "-info-name", name,
						"-shm-msg", "a", "-socket-msg", "b", "-accept-timeout", "60s"))
				start := time.Now()
				id, err := e.Run(ctx, s)
				if err != nil {
					b.Fatal(err)
				}
				info := filepath.Join(shared, name)
				for {
					if _, err := os.Stat(info); err == nil {
						break
					}
					if time.Since(start) > 20*time.Second {
						b.Fatalf("no info file %s after 20s", info)
					}
					time.Sleep(5 * time.Millisecond)
				}
				up += time.Since(start)
				start = time.Now()
				if err := e.Stop(ctx, 10*time.Second, id); err != nil {
					b.Fatal(err)
				}
				stop += time.Since(start)
				if err := e.Remove(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(up.Seconds()/float64(b.N), "s/up")
			b.ReportMetric(stop.Seconds()/float64(b.N), "s/stop")
		})
	}
}

package runenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/isolab/isolab/internal/engine"
	"github.com/isolab/isolab/internal/procfs"
	"github.com/isolab/isolab/internal/progress"
	"github.com/isolab/isolab/internal/shell"
)

// imageKey is one binary's image for one engine.
type imageKey struct {
	kind Kind
	bin  string
}

// image is a binary's image, built once per Runner.
type image struct {
	once sync.Once
	eng  *engine.Engine
	ref  string
	temp bool // an untrusted binary's: removed when the Runner closes
	err  error
}

func (im *image) remove() error {
	if im.eng.Kind == engine.Apptainer {
		return os.Remove(im.ref)
	}
	return im.eng.RemoveImages(context.Background(), im.ref)
}

// image builds the image of spec's binary for kind on first use: from
// images/Dockerfile or images/server.def, in a context directory holding
// the binary as "server". isolab's image is tagged by a hash of its inputs,
// so it stays cached between runs; an untrusted binary's goes to a
// repository of this Runner's and is removed at Close.
func (r *Runner) image(ctx context.Context, kind Kind, spec Spec) (string, error) {
	r.mu.Lock()
	k := imageKey{kind, spec.Bin}
	im := r.images[k]
	if im == nil {
		im = &image{temp: spec.Untrusted}
		r.images[k] = im
	}
	n := len(r.images)
	r.mu.Unlock()
	im.once.Do(func() {
		if im.eng, im.err = r.engineFor(kind); im.err != nil {
			return
		}
		dir := filepath.Join(r.cfg.Dir, "images", strconv.Itoa(n))
		defer os.RemoveAll(dir)
		if im.err = copyFile(spec.Bin, filepath.Join(dir, "server"), 0o755); im.err != nil {
			return
		}
		b := engine.BuildSpec{Repo: "localhost/isolab-server", File: r.cfg.Dockerfile, Context: dir, Inputs: []string{"server"}}
		if spec.Untrusted {
			b.Repo, b.KeepOthers = "localhost/isolab-untrusted-"+r.cfg.Label, true
			if kind != Apptainer && r.cfg.SubmissionDockerfile != "" {
				var base string
				if base, im.err = r.debianBase(ctx, im.eng); im.err != nil {
					return
				}
				b.File, b.BuildArgs = r.cfg.SubmissionDockerfile, []string{"BASE=" + base}
			}
		}
		if kind == Apptainer {
			b.File, b.Repo = r.cfg.ApptainerDef, filepath.Join(r.cfg.Dir, "isolab-server")
		}
		var img engine.Image
		img, im.err = im.eng.Build(ctx, b)
		im.ref = img.Ref
	})
	return im.ref, im.err
}

// debianBase is the image of the guests' root file system (VMImage's
// initramfs), imported into eng's store once per image key and kept there,
// as isolab's own server image is.
func (r *Runner) debianBase(ctx context.Context, eng *engine.Engine) (string, error) {
	img := r.cfg.VMImage
	if img.Initrd == "" || img.Key == "" {
		return "", fmt.Errorf("a submission's container image is built on the VM image's root file system, and there is no VM image")
	}
	ref := "localhost/isolab-debian:" + img.Key[:min(12, len(img.Key))]
	if eng.HasImage(ctx, ref) {
		return ref, nil
	}
	if err := os.MkdirAll(r.cfg.Dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(r.cfg.Dir, "root-*.tar")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	err = img.WriteRootTar(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return ref, eng.Import(ctx, tmp.Name(), ref)
}

// container is a Docker or Podman server.
type container struct {
	kind       Kind
	eng        *engine.Engine // nil when attached where the engine is not installed
	name, log  string
	id         string
	argv       []string
	dockerHost string

	done      chan struct{} // closed once it has exited
	collected chan struct{} // closed once its output is logged and it is removed
	code      int
	doneOnce  sync.Once
}

func (r *Runner) startContainer(ctx context.Context, spec Spec) (Server, error) {
	eng, err := r.engineFor(spec.Kind)
	if err != nil {
		return nil, err
	}
	ref, err := r.image(ctx, spec.Kind, spec)
	if err != nil {
		return nil, err
	}
	s := r.ContainerSpec(spec, ref)
	argv, err := s.Argv()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(spec.Log, []byte("+ "+shell.Quote(eng.Command(argv))+"\n"), 0o644); err != nil {
		return nil, err
	}
	id, err := eng.Run(ctx, s)
	if err != nil {
		return nil, err
	}
	c := &container{kind: spec.Kind, eng: eng, name: spec.Name, log: spec.Log, id: id, argv: eng.Command(argv), dockerHost: r.cfg.DockerHost, code: -1}
	c.follow() // this process sees it exit, saves its output and removes it
	return c, nil
}

// ContainerSpec is the least-privileged run of spec's server from image
// ref: read-only, no capabilities, no new privileges, the host user's uid
// (or spec.UID), the shared directory at the same path, labelled and named
// after the Runner, so that runs never reap each other's containers.
func (r *Runner) ContainerSpec(spec Spec, ref string) engine.Spec {
	uid, gid := os.Getuid(), os.Getgid()
	if spec.UID != 0 {
		uid, gid = spec.UID, spec.UID
	}
	flags := spec.ExtraArgs
	if spec.Untrusted && r.cfg.SubmissionDockerfile != "" {
		// As in a guest, whose root is writable, and on the host, where the
		// sandbox's directory is: somewhere to write, bounded.
		flags = append([]string{"--tmpfs=/tmp:rw,size=64m,mode=1777", "--tmpfs=/var/tmp:rw,size=64m,mode=1777", "--workdir=/tmp"}, flags...)
	}
	return engine.NewSpec(engine.Kind(spec.Kind), spec.Name, ref,
		engine.WithUser(uid, gid),
		engine.WithSharedDir(r.cfg.SharedDir),
		engine.WithIPC(spec.IPC),
		engine.WithNetwork(spec.Network),
		engine.WithLabel(labelKey, r.cfg.Label),
		engine.WithContainerName(engine.NamePrefix+r.cfg.Label+"-"+spec.Name),
		engine.WithEngineFlags(flags...),
		engine.WithArgs(spec.Args...),
	)
}

// attachContainer finds a container from its handle. Its engine is the one
// the handle names, found in PATH; without it, Stop and Kill say so.
func attachContainer(h Handle) *container {
	c := &container{kind: h.Kind, name: h.Name, log: h.Log, id: h.Container, argv: h.Argv, dockerHost: h.DockerHost, code: -1}
	if eng, err := engine.New(engine.Kind(h.Kind)); err == nil {
		eng.Prefix = h.EnginePrefix
		c.eng = eng
	}
	return c
}

// follow waits, in the background, for the container to exit, then records
// its exit status (Done closes), appends its output to its log and removes
// it (collected closes). Done does not wait for the engine's logs and rm: on
// a busy machine they take seconds, and a server that has exited must not
// look as if it still ran.
func (c *container) follow() {
	c.doneOnce.Do(func() {
		c.done, c.collected = make(chan struct{}), make(chan struct{})
		go func() {
			defer close(c.collected)
			if c.eng == nil {
				close(c.done)
				return
			}
			ctx := context.Background()
			code, err := c.eng.Wait(ctx, c.id)
			if err != nil {
				// Gone already, or the engine is: nothing more to learn.
				close(c.done)
				return
			}
			c.code = code
			close(c.done)
			tmp := c.log + ".container"
			if err := c.eng.Logs(ctx, c.id, tmp); err == nil {
				if out, err := os.ReadFile(tmp); err == nil {
					if f, err := os.OpenFile(c.log, os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
						fmt.Fprintf(f, "%s+ exit status %d\n", out, code)
						f.Close()
					}
				}
			}
			os.Remove(tmp)
			c.eng.Remove(ctx, c.id)
		}()
	})
}

func (c *container) Name() string { return c.name }

// Done is closed once the container has exited.
func (c *container) Done() <-chan struct{} {
	c.follow()
	return c.done
}

// gone waits until the exited container's output is in its log and the
// container is removed.
func (c *container) gone() {
	c.follow()
	<-c.collected
}

func (c *container) ExitCode() int {
	<-c.Done()
	return c.code
}

// Stop wraps the engine's stop: SIGTERM, SIGKILL after grace. It returns
// once the container is removed.
func (c *container) Stop(grace time.Duration) (int, error) {
	if c.eng == nil {
		return -1, fmt.Errorf("stop container %s of %s: %s is not installed", c.id, c.name, c.kind)
	}
	if closed(c.Done()) {
		c.gone()
		return c.code, nil
	}
	ctx := context.Background()
	err := c.eng.Stop(ctx, grace, c.id)
	c.gone()
	if _, ierr := c.eng.Inspect(ctx, c.id); err != nil && ierr != nil {
		err = nil // it was gone already: nothing to stop
	}
	return c.code, err
}

// Kill stops the container with no grace.
func (c *container) Kill() {
	if c.eng != nil {
		c.Stop(0)
	}
}

// Output is what the container printed, once it has exited (and its
// output was collected).
func (c *container) Output() string {
	if !closed(c.Done()) {
		return ""
	}
	c.gone()
	return logOutput(c.log)
}

func (c *container) Handle() Handle {
	h := Handle{Kind: c.kind, Name: c.name, Argv: c.argv, Log: c.log, Container: c.id, DockerHost: c.dockerHost}
	if c.eng != nil {
		h.EnginePrefix = c.eng.Prefix
	}
	return h
}

// progress is the CPU time of the container's processes, found through
// the engine (which costs a command: WaitInfo asks once a second).
func (c *container) progress() int64 {
	if c.eng == nil {
		return -1
	}
	st, err := c.eng.Inspect(context.Background(), c.id)
	if err != nil || st.Pid <= 0 {
		return -1
	}
	return procfs.SessionTicks(st.Pid)
}

func (c *container) stall() time.Duration { return progress.DefaultStall }

func (c *container) progressKind() string { return "its processes used no CPU time" }

func (c *container) ended() string { return fmt.Sprintf("exited %d", c.ExitCode()) }

func (c *container) lastLines() string { return printed(c.Output()) }

func (c *container) running() bool {
	if c.eng == nil {
		return false
	}
	st, err := c.eng.Inspect(context.Background(), c.id)
	return err == nil && st.Status != "exited" && st.Status != "dead"
}

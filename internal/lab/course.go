package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/isolab/isolab/client"
	"github.com/isolab/isolab/internal/infofile"
	"github.com/isolab/isolab/internal/labnet"
	"github.com/isolab/isolab/internal/netns"
	"github.com/isolab/isolab/internal/progress"
	"github.com/isolab/isolab/internal/runenv"
	"github.com/isolab/isolab/internal/shell"
	"github.com/isolab/isolab/internal/shm"
	"github.com/isolab/isolab/server"
)

// CourseLine is one of the exercise's Apptainer command lines, run as a
// student runs it: `singularity run` of an image converted from a Docker
// image, as `singularity build dgcc.simg docker://gcc` makes one (a Debian
// system whose CMD is bash), in the hope of a shell in the container, where
// the student then types the server's command line.
type CourseLine struct {
	Label string
	// FlagsAfter puts --bind DIR after the image's name, as the exercise
	// writes it; otherwise before, as apptainer run takes its flags.
	FlagsAfter bool
}

// CourseLines are the exercise's line and the one that does what it meant.
var CourseLines = []CourseLine{
	{Label: "singularity run IMAGE --bind DIR (the exercise's line)", FlagsAfter: true},
	{Label: "singularity run --bind DIR IMAGE (what it meant)"},
}

// CourseRun is what came of one CourseLine.
type CourseRun struct {
	Line    CourseLine
	Command []string // the exact command line, the server's typed on its stdin
	Stdin   string
	Exit    int    // apptainer's exit status
	Printed string // its last lines
	// Server is what the client saw of the server; nil when the server
	// wrote no info file (the client then counts no server at all).
	Server *client.ServerResult
}

// RunCourseLines runs each CourseLine in a lab network of its own (no
// server of a scenario runs), with the client on the host after each, and
// checks that each leaves nothing behind. It needs Apptainer, and Podman
// or Docker to convert the image.
func (l *Lab) RunCourseLines(ctx context.Context) ([]CourseRun, error) {
	if err := runenv.Installed(runenv.Apptainer); err != nil {
		return nil, err
	}
	if err := l.Build(ctx); err != nil {
		return nil, err
	}
	img, err := l.vmImage(ctx)
	if err != nil {
		return nil, err
	}
	var sif string
	if err := l.Step("course image", func() (err error) {
		sif, err = l.courseImage(ctx, img)
		return err
	}); err != nil {
		return nil, err
	}
	cfg := l.Net()
	cfg.Name += "-course"
	var net *labnet.Net
	if err := l.Step("lab network", func() (err error) {
		net, err = labnet.Up(ctx, cfg, false, func(f string, a ...any) { l.Printf("  "+f, a...) })
		return err
	}); err != nil {
		return nil, err
	}
	defer func() {
		if leaks, err := labnet.Down(context.WithoutCancel(ctx), cfg); len(leaks) > 0 || err != nil {
			l.Printf("lab network down: left %v (%v)", leaks, err)
		}
	}()
	var runs []CourseRun
	for i, line := range CourseLines {
		var run CourseRun
		err := l.Step(line.Label, func() (err error) {
			run, err = l.runCourseLine(ctx, net.Path(), sif, line, i)
			return err
		})
		if err != nil {
			return runs, err
		}
		runs = append(runs, run)
	}
	return runs, nil
}

// courseImage is the course's kind of image, built once per VM image: the
// guests' Debian root imported into Podman (else Docker) with CMD bash,
// saved as a Docker archive and converted by apptainer build, which writes
// the runscript it writes for docker://gcc.
func (l *Lab) courseImage(ctx context.Context, img runenv.VMImage) (string, error) {
	dir := filepath.Join(l.Dir, "matrix")
	sif := filepath.Join(dir, "course-"+img.Key[:min(12, len(img.Key))]+".sif")
	if _, err := os.Stat(sif); err == nil {
		return sif, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	eng := "podman"
	if _, err := exec.LookPath(eng); err != nil {
		return "", fmt.Errorf("the course image is converted from a Docker image made with podman: %w (try: apt-get install podman)", err)
	}
	root := filepath.Join(dir, "course-root.tar")
	archive := filepath.Join(dir, "course-docker.tar")
	defer os.Remove(root)
	defer os.Remove(archive)
	f, err := os.Create(root)
	if err != nil {
		return "", err
	}
	err = img.WriteRootTar(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	ref := "localhost/isolab-course:" + img.Key[:min(12, len(img.Key))]
	log := l.log()
	steps := [][]string{
		{eng, "import", "--change", `CMD ["bash"]`, root, ref},
		{eng, "save", "--format", "docker-archive", "-o", archive, ref},
		{"apptainer", "build", "--force", sif + ".tmp", "docker-archive:" + archive},
	}
	for _, argv := range steps {
		if _, err := shell.Run(ctx, shell.Command{Argv: argv, Log: log, Brief: true}); err != nil {
			shell.Run(context.WithoutCancel(ctx), shell.Command{Argv: []string{eng, "rmi", "-f", ref}, Log: log})
			os.Remove(sif + ".tmp")
			return "", fmt.Errorf("course image: %w", err)
		}
	}
	if _, err := shell.Run(ctx, shell.Command{Argv: []string{eng, "rmi", "-f", ref}, Log: log}); err != nil {
		return "", fmt.Errorf("course image: %w", err)
	}
	return sif, os.Rename(sif+".tmp", sif)
}

// runCourseLine runs one line in the namespace at nsPath: apptainer run of
// sif with the shared directory bound as the line says, the server's
// command line on its stdin; then, once the server's info file is complete
// or apptainer has exited, the client, and apptainer is waited for (the
// server ends after the client's visit, else its accept timeout).
func (l *Lab) runCourseLine(ctx context.Context, nsPath, sif string, line CourseLine, i int) (CourseRun, error) {
	shared := filepath.Join(l.Dir, "matrix", "course-share")
	info := filepath.Join(shared, "info")
	os.RemoveAll(shared)
	defer os.RemoveAll(shared)
	if err := os.MkdirAll(info, 0o777); err != nil {
		return CourseRun{}, err
	}
	key := filepath.Join(shared, "key")
	if err := os.WriteFile(key, nil, 0o644); err != nil {
		return CourseRun{}, err
	}
	name := fmt.Sprintf("course%d", i+1)
	setup := server.Setup{Port: 31000 + i, ShmPathname: key, ShmProjID: 1, InfoFileDirectory: info, InfoFileName: name}
	typed := shell.Quote(append([]string{"exec", l.ServerBin()}, append(server.CommandLine(setup, name+"-shm", name+"-socket"), "-ip", "127.0.0.1", "-accept-timeout", "20s")...)) + "\n"
	bind := []string{"--bind", shared}
	argv := []string{"apptainer", "run"}
	if os.Geteuid() == 0 {
		argv = append(argv, "--drop-caps", "CAP_SYS_RESOURCE") // see runenv: root may lack it here
	}
	if line.FlagsAfter {
		argv = append(append(argv, sif), bind...)
	} else {
		argv = append(append(argv, bind...), sif)
	}
	run := CourseRun{Line: line, Command: argv, Stdin: typed}
	logPath := filepath.Join(l.LogDir(), name+".log")
	if err := os.MkdirAll(l.LogDir(), 0o755); err != nil {
		return run, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return run, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "$ %s <<< %s", shell.Quote(argv), typed)
	enter := netns.Enter(nsPath)
	cmd := exec.CommandContext(ctx, enter[0], append(enter[1:], argv...)...)
	cmd.Stdin = strings.NewReader(typed)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return run, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	f := infofile.Follow(filepath.Join(info, name))
	werr := progress.Wait{
		Done: func() (bool, error) {
			_, ok, err := f.Complete(closed(exited))
			return ok, err
		},
		Gone: exited,
	}.Run(ctx)
	if werr == nil {
		// The client binary, in the namespace (a process of its own: Go's
		// dials run on any thread, and only a locked one enters it).
		argv := append(netns.Enter(nsPath), l.ClientBin(), "-json", info)
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
		var res client.Result
		if err == nil {
			err = json.Unmarshal(out, &res)
		}
		if err != nil {
			cmd.Process.Kill()
			<-exited
			return run, fmt.Errorf("client: %s: %w", shell.Quote(argv), err)
		}
		if len(res.Servers) == 1 {
			run.Server = &res.Servers[0]
		}
	} else if !errors.Is(werr, progress.ErrGone) {
		cmd.Process.Kill()
		<-exited
		return run, werr
	}
	<-exited
	fmt.Fprint(logf, out.String())
	run.Exit = cmd.ProcessState.ExitCode()
	run.Printed = shell.Tail(strings.TrimSpace(out.String()), 3)
	// Nothing of it may be left: its info file and segment are the server's
	// to remove.
	var left []string
	if entries, _ := os.ReadDir(info); len(entries) > 0 {
		left = append(left, "info file "+entries[0].Name())
	}
	if k, err := shm.Ftok(key, 1); err == nil {
		if _, err := shm.Lookup(k); err == nil {
			left = append(left, "segment "+k.String())
		}
	}
	if len(left) > 0 {
		return run, fmt.Errorf("%s left %s (exit %d)", line.Label, strings.Join(left, ", "), run.Exit)
	}
	return run, nil
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

package conformance

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/isolab/isolab/internal/gobuild"
	"github.com/isolab/isolab/internal/shell"
)

// cxx is the C++ compiler: $CXX, else g++.
func cxx() (string, error) {
	name := os.Getenv("CXX")
	if name == "" {
		name = "g++"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("C++ compiler %s not found (try: apt-get install g++): %w", name, err)
	}
	return p, nil
}

// command runs argv in dir and returns its combined output; a failure carries
// the exact command line and the tail of the output.
func command(ctx context.Context, dir string, env []string, argv ...string) (string, error) {
	return shell.Run(ctx, shell.Command{Argv: argv, Dir: dir, Env: env})
}

// The course headers, in the order a program includes them.
var courseHeaders = []string{"globals.h", "server.h", "client.h"}

// BuildCLib builds isolab as the course's C++ implementation into outDir:
// libserver.a and libclient.a, each holding one Go c-archive of the server and
// client packages (clib/) plus the C++ shims (clib/cxx/), and the headers
// globals.h, server.h and client.h. Both archives hold the same objects, so a
// program may link either or both. root is the repository root.
func BuildCLib(ctx context.Context, root, outDir string) error {
	if err := absPaths(&root, &outDir); err != nil {
		return err
	}
	cc, err := cxx()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "isolab-clib-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	goArchive := filepath.Join(tmp, "libisolab.a")
	if _, err := command(ctx, root, []string{"CGO_ENABLED=1"}, gobuild.GoTool(), "build", "-buildmode=c-archive",
		"-trimpath", "-tags", "netgo,osusergo", "-o", goArchive, "./clib"); err != nil {
		return fmt.Errorf("build the Go archive: %w", err)
	}
	var shims []string
	for _, name := range []string{"server", "client"} {
		obj := filepath.Join(tmp, "isolab_"+name+"_shim.o")
		if _, err := command(ctx, root, nil, cc, "-c", "-O2", "-Wall", "-Wextra",
			"-I", filepath.Join(root, "clib", "include"), "-I", filepath.Join(root, "clib"),
			"-o", obj, filepath.Join(root, "clib", "cxx", name+"_shim.cpp")); err != nil {
			return fmt.Errorf("build the %s shim: %w", name, err)
		}
		shims = append(shims, obj)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, lib := range []string{"libserver.a", "libclient.a"} {
		dst := filepath.Join(outDir, lib)
		if err := copyFile(goArchive, dst); err != nil {
			return err
		}
		if _, err := command(ctx, outDir, nil, append([]string{"ar", "rs", dst}, shims...)...); err != nil {
			return fmt.Errorf("add the shims to %s: %w", lib, err)
		}
	}
	for _, h := range courseHeaders {
		if err := copyFile(filepath.Join(root, "clib", "include", h), filepath.Join(outDir, h)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// BuildOurs builds isolab's static server and client into dir and returns
// their paths.
func BuildOurs(ctx context.Context, root, dir string) (server, client string, err error) {
	bins, err := gobuild.Static(ctx, root, dir, gobuild.Server, gobuild.Client)
	if err != nil {
		return "", "", err
	}
	return bins[0], bins[1], nil
}

// Impl is an implementation of the exercise built with the adapter mains.
type Impl struct {
	Dir    string // the implementation's directory
	From   string // "archives" (its libserver.a and libclient.a) or "sources" (its .cpp files)
	Server string // static binary with isolab's server command line
	Client string // static binary with isolab's client command line
	Mains  []string
}

// BuildImpl builds the adapters of conformance/cxx against the implementation
// in implDir, into outDir. implDir holds the course headers (server.h,
// client.h, globals.h, anywhere below it) and either libserver.a and
// libclient.a, or the .cpp files of the libraries: those are compiled, files
// that define main are left out (they are the implementation's own mains), and
// the rest goes into one archive. The adapters are linked with -static.
func BuildImpl(ctx context.Context, root, implDir, outDir string) (Impl, error) {
	if err := absPaths(&root, &implDir, &outDir); err != nil {
		return Impl{}, err
	}
	impl := Impl{Dir: implDir}
	cc, err := cxx()
	if err != nil {
		return impl, err
	}
	files, err := implFiles(implDir, outDir)
	if err != nil {
		return impl, err
	}
	var incs []string
	found := map[string]bool{}
	for _, f := range files {
		switch ext := filepath.Ext(f); ext {
		case ".h", ".hpp", ".hh":
			found[filepath.Base(f)] = true
			if d := filepath.Dir(f); !slices.Contains(incs, d) {
				incs = append(incs, d)
			}
		}
	}
	for _, h := range []string{"server.h", "client.h"} {
		if !found[h] {
			return impl, fmt.Errorf("%s: no %s (the course headers must be there)", implDir, h)
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return impl, err
	}
	serverLibs, clientLibs := archives(files)
	if serverLibs == nil {
		impl.From = "sources"
		lib, mains, err := compileSources(ctx, cc, files, incs, outDir)
		if err != nil {
			return impl, err
		}
		impl.Mains = mains
		serverLibs, clientLibs = []string{lib}, []string{lib}
	} else {
		impl.From = "archives"
	}
	adapters := filepath.Join(root, "conformance", "cxx")
	var incFlags []string
	for _, d := range incs {
		incFlags = append(incFlags, "-I", d)
	}
	for _, a := range []struct {
		out, src string
		libs     []string
	}{
		{filepath.Join(outDir, "server"), "server_main.cpp", serverLibs},
		{filepath.Join(outDir, "client"), "client_main.cpp", clientLibs},
	} {
		argv := append([]string{cc, "-static", "-O2", "-o", a.out}, incFlags...)
		argv = append(argv, filepath.Join(adapters, a.src))
		argv = append(argv, a.libs...)
		argv = append(argv, "-lpthread")
		if _, err := command(ctx, outDir, nil, argv...); err != nil {
			return impl, fmt.Errorf("link the %s adapter: %w", strings.TrimSuffix(a.src, "_main.cpp"), err)
		}
	}
	impl.Server, impl.Client = filepath.Join(outDir, "server"), filepath.Join(outDir, "client")
	return impl, nil
}

// implFiles lists the regular files below dir, leaving out hidden directories
// and outDir.
func implFiles(dir, outDir string) ([]string, error) {
	absOut, _ := filepath.Abs(outDir)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			abs, _ := filepath.Abs(p)
			if p != dir && (strings.HasPrefix(d.Name(), ".") || abs == absOut) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the implementation: %w", err)
	}
	return files, nil
}

// archives returns the implementation's libserver.a and libclient.a, or nils
// when it does not hold both.
func archives(files []string) (server, client []string) {
	for _, f := range files {
		switch filepath.Base(f) {
		case "libserver.a":
			server = append(server, f)
		case "libclient.a":
			client = append(client, f)
		}
	}
	if len(server) != 1 || len(client) != 1 {
		return nil, nil
	}
	return server, client
}

// compileSources compiles every C++ source file (two at a time), leaves out
// the objects that define main, and archives the rest as libimpl.a.
func compileSources(ctx context.Context, cc string, files, incs []string, outDir string) (lib string, mains []string, err error) {
	var srcs []string
	for _, f := range files {
		switch filepath.Ext(f) {
		case ".cpp", ".cc", ".cxx", ".C":
			srcs = append(srcs, f)
		}
	}
	if len(srcs) == 0 {
		return "", nil, errors.New("no libserver.a and libclient.a, and no .cpp files to build them from")
	}
	objDir := filepath.Join(outDir, "obj")
	if err := os.MkdirAll(objDir, 0o755); err != nil {
		return "", nil, err
	}
	objs := make([]string, len(srcs))
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	for i, src := range srcs {
		objs[i] = filepath.Join(objDir, fmt.Sprintf("%02d-%s.o", i, strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))))
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			argv := []string{cc, "-c", "-O2"}
			for _, d := range incs {
				argv = append(argv, "-I", d)
			}
			argv = append(argv, "-o", objs[i], src)
			_, errs[i] = command(ctx, outDir, nil, argv...)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", nil, fmt.Errorf("compile the implementation: %w", err)
	}
	var keep []string
	for i, obj := range objs {
		hasMain, err := definesMain(ctx, obj)
		if err != nil {
			return "", nil, err
		}
		if hasMain {
			mains = append(mains, srcs[i])
			continue
		}
		keep = append(keep, obj)
	}
	if len(keep) == 0 {
		return "", mains, errors.New("every .cpp file defines main: no library code")
	}
	lib = filepath.Join(outDir, "libimpl.a")
	os.Remove(lib)
	if _, err := command(ctx, outDir, nil, append([]string{"ar", "rcs", lib}, keep...)...); err != nil {
		return "", mains, err
	}
	return lib, mains, nil
}

// definesMain reads nm(1)'s list of an object's defined global symbols.
func definesMain(ctx context.Context, obj string) (bool, error) {
	out, err := command(ctx, "", nil, "nm", "-g", "--defined-only", obj)
	if err != nil {
		return false, err
	}
	sc := bufio.NewScanner(bytes.NewReader([]byte(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[2] == "main" && (f[1] == "T" || f[1] == "t") {
			return true, nil
		}
	}
	return false, nil
}

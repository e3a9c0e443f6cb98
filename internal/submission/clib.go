package submission

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/isolab/isolab/internal/gobuild"
	"github.com/isolab/isolab/internal/shell"
)

// The course headers, in the order a program includes them.
var courseHeaders = []string{"globals.h", "server.h", "client.h"}

// BuildCLib builds isolab as the course's C++ implementation into outDir:
// libserver.a and libclient.a, each holding one Go c-archive of the server and
// client packages (clib/) plus the C++ shims (clib/cxx/), and the headers
// globals.h, server.h and client.h. Both archives hold the same objects, so a
// program may link either or both. root is the repository root.
func BuildCLib(ctx context.Context, root, outDir string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if outDir, err = filepath.Abs(outDir); err != nil {
		return err
	}
	cc := compiler()
	tmp, err := os.MkdirTemp("", "isolab-clib-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	goArchive := filepath.Join(tmp, "libisolab.a")
	if _, err := shell.Run(ctx, shell.Command{Dir: root, Env: []string{"CGO_ENABLED=1"}, Argv: []string{gobuild.GoTool(), "build", "-buildmode=c-archive",
		"-trimpath", "-tags", "netgo,osusergo", "-o", goArchive, "./clib"}}); err != nil {
		return fmt.Errorf("build the Go archive: %w", err)
	}
	var shims []string
	for _, name := range []string{"server", "client"} {
		obj := filepath.Join(tmp, "isolab_"+name+"_shim.o")
		if _, err := shell.Run(ctx, shell.Command{Dir: root, Argv: []string{cc, "-c", "-O2", "-Wall", "-Wextra",
			"-I", filepath.Join(root, "clib", "include"), "-I", filepath.Join(root, "clib"),
			"-o", obj, filepath.Join(root, "clib", "cxx", name+"_shim.cpp")}}); err != nil {
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
		if _, err := shell.Run(ctx, shell.Command{Dir: outDir, Argv: append([]string{"ar", "rs", dst}, shims...)}); err != nil {
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

package submission

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Limits of what a submission may hold: a course's tarball is a few
// sources and a Makefile.
const (
	maxFiles = 2000
	maxBytes = 64 << 20
)

// extract unpacks the tarball (plain or gzip'ed) at path into dir, as root
// but taking only what a submission is made of: directories and regular
// files, at paths inside dir, with no more than rwx permissions. Links,
// devices and anything that would land outside dir are left out.
func extract(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gunzip %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	var files int
	var bytes int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s as a tar archive: %w", path, err)
		}
		name := filepath.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if !filepath.IsLocal(name) {
			continue // an absolute path, or one that climbs out
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if files++; files > maxFiles {
				return fmt.Errorf("%s holds more than %d files", path, maxFiles)
			}
			if bytes += h.Size; bytes > maxBytes {
				return fmt.Errorf("%s holds more than %d MiB", path, maxBytes>>20)
			}
			if err := writeFile(target, tr, fs.FileMode(h.Mode)&0o755|0o644); err != nil {
				return err
			}
		}
	}
}

// writeFile writes what r holds to path, making its directory.
func writeFile(path string, r io.Reader, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|unix.O_NOFOLLOW, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, io.LimitReader(r, maxBytes))
	return errors.Join(err, f.Close())
}

// copyTree copies the directories and regular files below src into dst,
// leaving out hidden directories and links, so that a build never writes
// in the original.
func copyTree(src, dst string) error {
	var files int
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir() && p != src && strings.HasPrefix(d.Name(), "."):
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		if files++; files > maxFiles {
			return fmt.Errorf("%s holds more than %d files", src, maxFiles)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return writeFile(target, f, info.Mode().Perm()&0o755|0o644)
	})
}

// chownTree gives everything below dir to uid (and gid uid).
func chownTree(dir string, uid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

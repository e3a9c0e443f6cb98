package vm

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// WriteRootTar writes the guest's root file system, the image's initramfs
// (a newc cpio archive), to w as a tar archive, as `docker import` and
// `podman import` take one: so that a container can have the very Debian
// system a guest has (its libraries, /bin/sh, /etc). Device nodes are left
// out (an engine gives a container its own /dev), and so is lab-init (/init).
func (img Image) WriteRootTar(w io.Writer) error {
	f, err := os.Open(img.Initrd)
	if err != nil {
		return fmt.Errorf("root tar of the VM image: %w", err)
	}
	defer f.Close()
	tw := tar.NewWriter(w)
	if err := cpioToTar(bufio.NewReaderSize(f, 1<<20), tw); err != nil {
		return fmt.Errorf("root tar of %s: %w", img.Initrd, err)
	}
	return tw.Close()
}

// cpioHeader is one newc entry's header (cpio(5): "070701" and 13 fields
// of 8 hex digits).
type cpioHeader struct {
	ino, mode, uid, gid, nlink, mtime, size int64
	name                                    string
}

// cpioToTar copies a newc archive into tw. A file with hard links has its
// data in its last entry only (the others have size 0): those come as tar
// links to it, once it is there.
func cpioToTar(r *bufio.Reader, tw *tar.Writer) error {
	pending := map[int64][]cpioHeader{} // ino -> earlier names of a hard-linked file
	for {
		h, err := readCpioHeader(r)
		if err != nil {
			return err
		}
		if h.name == "TRAILER!!!" {
			break
		}
		data := io.LimitReader(r, h.size)
		if err := writeTarEntry(tw, h, data, pending); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, data); err != nil {
			return err
		}
		if err := skipPad(r, h.size); err != nil {
			return err
		}
	}
	for _, hs := range pending { // hard links of empty files: empty files
		for _, h := range hs {
			if err := tw.WriteHeader(tarHeader(h, tar.TypeReg)); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeTarEntry(tw *tar.Writer, h cpioHeader, data io.Reader, pending map[int64][]cpioHeader) error {
	name := strings.TrimPrefix(strings.TrimPrefix(h.name, "."), "/")
	if name == "" || name == "init" {
		return nil
	}
	h.name = name
	switch h.mode & 0o170000 {
	case 0o040000:
		return tw.WriteHeader(tarHeader(h, tar.TypeDir))
	case 0o120000:
		target, err := io.ReadAll(data)
		if err != nil {
			return err
		}
		th := tarHeader(h, tar.TypeSymlink)
		th.Linkname = string(target)
		return tw.WriteHeader(th)
	case 0o100000:
		if h.nlink > 1 && h.size == 0 {
			pending[h.ino] = append(pending[h.ino], h)
			return nil
		}
		th := tarHeader(h, tar.TypeReg)
		th.Size = h.size
		if err := tw.WriteHeader(th); err != nil {
			return err
		}
		if _, err := io.Copy(tw, data); err != nil {
			return err
		}
		for _, l := range pending[h.ino] {
			lh := tarHeader(l, tar.TypeLink)
			lh.Linkname = name
			if err := tw.WriteHeader(lh); err != nil {
				return err
			}
		}
		delete(pending, h.ino)
	}
	return nil // device nodes, FIFOs, sockets
}

func tarHeader(h cpioHeader, typ byte) *tar.Header {
	return &tar.Header{Typeflag: typ, Name: h.name, Mode: h.mode & 0o7777, Uid: int(h.uid), Gid: int(h.gid),
		ModTime: time.Unix(h.mtime, 0), Format: tar.FormatPAX}
}

func readCpioHeader(r *bufio.Reader) (cpioHeader, error) {
	var raw [110]byte
	if _, err := io.ReadFull(r, raw[:]); err != nil {
		return cpioHeader{}, fmt.Errorf("cpio header: %w", err)
	}
	if string(raw[:6]) != "070701" {
		return cpioHeader{}, fmt.Errorf("not a newc cpio archive (magic %q)", raw[:6])
	}
	var f [13]int64
	for i := range f {
		v, err := strconv.ParseInt(string(raw[6+8*i:14+8*i]), 16, 64)
		if err != nil {
			return cpioHeader{}, fmt.Errorf("cpio header field %d: %w", i, err)
		}
		f[i] = v
	}
	namesize := f[11]
	name := make([]byte, namesize)
	if _, err := io.ReadFull(r, name); err != nil {
		return cpioHeader{}, fmt.Errorf("cpio name: %w", err)
	}
	if err := skipPad(r, 110+namesize); err != nil {
		return cpioHeader{}, err
	}
	return cpioHeader{ino: f[0], mode: f[1], uid: f[2], gid: f[3], nlink: f[4], mtime: f[5], size: f[6],
		name: strings.TrimRight(string(name), "\x00")}, nil
}

// skipPad skips what pads n bytes to a multiple of 4.
func skipPad(r *bufio.Reader, n int64) error {
	_, err := r.Discard(int((4 - n%4) % 4))
	return err
}

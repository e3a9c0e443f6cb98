package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/isolab/isolab/internal/shell"
)

// BuildSpec describes the server image.
type BuildSpec struct {
	// Repo is the image's name without tag, e.g. "localhost/isolab-server"
	// (the localhost/ prefix makes Docker and Podman spell the same
	// reference); for Apptainer, the SIF file's path without ".sif".
	Repo string
	// File is the Dockerfile, or the Apptainer definition.
	File string
	// Context is the build context directory (Apptainer: where %files paths
	// start, normally the repository root).
	Context string
	// Inputs are the files, relative to Context, that the image is made of
	// (e.g. "server", or "bin/server" for Apptainer). With File they decide
	// the image's tag. Empty: every regular file directly in Context.
	Inputs []string
	// BuildArgs are the Dockerfile's ARGs, as NAME=VALUE (a base image,
	// say); they decide the tag too.
	BuildArgs []string
	// KeepOthers keeps the other images of Repo, which Build otherwise
	// removes as older builds: Repo holds one image per binary of a run
	// (its submissions'), all in use at once.
	KeepOthers bool
}

// Image is a built image.
type Image struct {
	Ref   string // repo:tag, or the SIF file
	Built bool   // false when an image with these inputs already existed
}

// InputHash returns the first 12 hex digits of the SHA-256 of spec's File and
// Inputs (their names, permission bits and contents): the image's tag.
func InputHash(spec BuildSpec) (string, error) {
	inputs := slices.Clone(spec.Inputs)
	if len(inputs) == 0 {
		ents, err := os.ReadDir(spec.Context)
		if err != nil {
			return "", fmt.Errorf("hash image inputs: %w", err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				inputs = append(inputs, e.Name())
			}
		}
	}
	slices.Sort(inputs)
	h := sha256.New()
	add := func(label, path string) error {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("hash image inputs: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("hash image inputs: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", label, st.Mode().Perm(), st.Size())
		if _, err := io.Copy(h, f); err != nil {
			return fmt.Errorf("hash image inputs: read %s: %w", path, err)
		}
		return nil
	}
	if err := add("\x00file", spec.File); err != nil {
		return "", err
	}
	for _, a := range spec.BuildArgs {
		fmt.Fprintf(h, "\x00arg\x00%s\x00", a)
	}
	for _, in := range inputs {
		if err := add(in, filepath.Join(spec.Context, in)); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// ImageRef returns the reference spec builds to: Repo:hash, or Repo-hash.sif
// for Apptainer.
func ImageRef(k Kind, spec BuildSpec) (string, error) {
	hash, err := InputHash(spec)
	if err != nil {
		return "", err
	}
	if k == Apptainer {
		return spec.Repo + "-" + hash + ".sif", nil
	}
	return spec.Repo + ":" + hash, nil
}

// Build builds the image unless one with the same inputs exists, and then
// removes the lab's older images of spec.Repo (best effort: failures go to
// e.Log). The build's output goes to e.Log.
func (e *Engine) Build(ctx context.Context, spec BuildSpec) (Image, error) {
	ref, err := ImageRef(e.Kind, spec)
	if err != nil {
		return Image{}, err
	}
	if e.Kind == Apptainer {
		return e.buildSIF(ctx, spec, ref)
	}
	idArgv, err := ImageIDArgv(e.Kind, ref)
	if err != nil {
		return Image{}, err
	}
	if _, err := e.output(ctx, idArgv); err == nil {
		return Image{Ref: ref}, nil
	}
	argv, err := BuildArgv(e.Kind, ref, spec.File, spec.Context, spec.BuildArgs...)
	if err != nil {
		return Image{}, err
	}
	if err := e.run(ctx, argv, nil); err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", ref, err)
	}
	if !spec.KeepOthers {
		e.pruneImages(ctx, spec.Repo, ref)
	}
	return Image{Ref: ref, Built: true}, nil
}

// HasImage reports whether the engine holds image ref.
func (e *Engine) HasImage(ctx context.Context, ref string) bool {
	argv, err := ImageIDArgv(e.Kind, ref)
	if err != nil {
		return false
	}
	_, err = e.output(ctx, argv)
	return err == nil
}

// Import makes image ref from the root file system in the tar file root
// (ImportArgv), labelled Label.
func (e *Engine) Import(ctx context.Context, root, ref string) error {
	argv, err := ImportArgv(e.Kind, root, ref)
	if err != nil {
		return err
	}
	if err := e.run(ctx, argv, io.Discard); err != nil {
		return fmt.Errorf("import image %s: %w", ref, err)
	}
	return nil
}

// pruneImages removes the images labelled Label of repo other than keep.
func (e *Engine) pruneImages(ctx context.Context, repo, keep string) {
	argv, err := ImagesArgv(e.Kind, Label)
	if err != nil {
		return
	}
	out, err := e.output(ctx, argv)
	if err != nil {
		return
	}
	var old []string
	for _, ref := range strings.Fields(out) {
		if strings.HasPrefix(ref, repo+":") && ref != keep {
			old = append(old, ref)
		}
	}
	if len(old) == 0 {
		return
	}
	rm, _ := RemoveImagesArgv(e.Kind, old...)
	if err := e.run(ctx, rm, io.Discard); err != nil && e.Log != nil {
		fmt.Fprintf(e.Log, "remove old images: %v\n", err)
	}
}

// buildSIF builds an Apptainer image into ref unless that file exists. The
// definition's %files paths are relative to spec.Context, where it runs.
func (e *Engine) buildSIF(ctx context.Context, spec BuildSpec, ref string) (Image, error) {
	abs, err := filepath.Abs(ref)
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", ref, err)
	}
	if _, err := os.Stat(abs); err == nil {
		return Image{Ref: abs}, nil
	}
	file, err := filepath.Abs(spec.File)
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", ref, err)
	}
	tmp := abs + ".tmp"
	argv, err := BuildArgv(Apptainer, tmp, file, spec.Context)
	if err != nil {
		return Image{}, err
	}
	if _, err := shell.Run(ctx, shell.Command{Argv: e.Command(argv), Dir: spec.Context, Log: e.Log}); err != nil {
		os.Remove(tmp)
		return Image{}, fmt.Errorf("build image %s: %w", ref, err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", ref, err)
	}
	// Older builds of the same repo are of no further use.
	absRepo, _ := filepath.Abs(spec.Repo)
	old, _ := filepath.Glob(absRepo + "-????????????.sif")
	for _, o := range old {
		if o != abs {
			os.Remove(o)
		}
	}
	return Image{Ref: abs, Built: true}, nil
}

package conformance

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// root is the repository root, from this package's directory.
var root, _ = filepath.Abs(filepath.Join("..", ".."))

// shared is what the integration tests build once: isolab's binaries and its
// course archives.
var shared struct {
	once           sync.Once
	dir            string
	server, client string
	clib           string
	err            error

	mu    sync.Mutex
	impls map[string]*implOnce // adapters built per implementation directory
}

type implOnce struct {
	once sync.Once
	impl Impl
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// needCXX skips t without a C++ compiler.
func needCXX(t *testing.T) {
	t.Helper()
	if _, err := cxx(); err != nil {
		t.Skip(err)
	}
}

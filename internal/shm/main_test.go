package shm_test

import (
	"testing"

	"github.com/isolab/isolab/internal/shmtest"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

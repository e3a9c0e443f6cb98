package lab

import (
	"os"
	"testing"

	"github.com/isolab/isolab/internal/stress"
)

// TestMain runs the tests beside $ISOLAB_TEST_HOG busy loops (internal/stress).
func TestMain(m *testing.M) { os.Exit(stress.Run(m)) }

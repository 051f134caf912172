package app

import (
	"os"
	"testing"

	"github.com/spresponder/spresponder/internal/azuritetest"
)

// azurite is started once for the package's tests that need it (the
// ledger of check and selftest).
var azurite = &azuritetest.Harness{}

func TestMain(m *testing.M) {
	code := m.Run()
	azurite.Shutdown()
	os.Exit(code)
}

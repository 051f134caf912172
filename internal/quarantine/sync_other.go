//go:build !linux

package quarantine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// syncFiles makes every temporary file in dir durable, one fsync each
// (syncfs is Linux's).
func syncFiles(dir, _ string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("quarantine: list %s: %w", dir, err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, e.Name()), os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("quarantine: open %s: %w", e.Name(), err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("quarantine: sync %s: %w", e.Name(), err)
		}
	}
	return nil
}

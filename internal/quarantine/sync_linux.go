package quarantine

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncFiles makes every file written in dir durable with one syncfs(2) of
// its filesystem, instead of an fsync per file. (one is one of the files:
// syncfs needs a descriptor on the filesystem.)
func syncFiles(dir, one string) error {
	f, err := os.Open(one)
	if err != nil {
		return fmt.Errorf("quarantine: open %s: %w", one, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("quarantine: sync the files in %s: %w", dir, err)
	}
	return nil
}

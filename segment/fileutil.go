package segment

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File names in a segment directory. Everything else in the directory is ignored.
const (
	sealedSuffix = ".seg"      // 20261123T14Z.seg: sealed, immutable
	partSuffix   = ".seg.part" // 20261123T14Z.seg.part: being written, or torn
	tmpSuffix    = ".tmp"      // anything ending so is garbage from an interrupted step
	brokenSuffix = ".broken"   // a file whose header does not check, set aside for the operator
	lockName     = "LOCK"      // flock(2)ed while a Dir is open
)

func sealedName(h Hour) string { return h.String() + sealedSuffix }
func partName(h Hour) string   { return h.String() + partSuffix }

// parseName recognises the name of a segment file.
func parseName(name string) (h Hour, sealed, ok bool) {
	var base string
	switch {
	case strings.HasSuffix(name, partSuffix):
		base = strings.TrimSuffix(name, partSuffix)
	case strings.HasSuffix(name, sealedSuffix):
		base, sealed = strings.TrimSuffix(name, sealedSuffix), true
	default:
		return 0, false, false
	}
	h, err := ParseHour(base)
	if err != nil || h.String() != base {
		return 0, false, false
	}
	return h, sealed, true
}

// syncDir fsyncs a directory, making renames, creations and removals in it durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// syncDir fsyncs the segment directory.
func (d *Dir) syncDir() error { return d.opts.hooks.syncDir(d.dir) }

// renameSync renames a file inside the segment directory and fsyncs it.
func (d *Dir) renameSync(from, to string) error {
	if err := os.Rename(filepath.Join(d.dir, from), filepath.Join(d.dir, to)); err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	return d.syncDir()
}

// readFull preads exactly len(b) bytes at off.
func readFull(f *os.File, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil {
		err = errShort
	}
	return err
}

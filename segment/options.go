package segment

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Options configure a Dir. The zero value of every field selects its default.
type Options struct {
	// FlushInterval is how often the current block is cut, written and the file
	// fsynced. It bounds what a crash can lose. 0: 1 s.
	FlushInterval time.Duration
	// BlockSize is the raw (uncompressed) size at which a block is cut. Blocks
	// never exceed it, except a block holding one record larger than it.
	// 0: 256 KiB; at most 16 MiB.
	BlockSize int
	// Level is the zstd encoder level. 0: zstd.SpeedFastest (see doc.go).
	Level zstd.EncoderLevel
	// CacheBlocks is the number of decoded blocks kept by the read cache.
	// 0: 256; negative: no cache.
	CacheBlocks int
	// QueueBlocks is the number of cut blocks that may wait for the writer before
	// Append blocks. 0: 4.
	QueueBlocks int
	// Now is the clock that decides which hour a record arrives in.
	// nil: time.Now.
	Now func() time.Time
	// Logger receives recovery reports, write errors and lifecycle events.
	// nil: discard.
	Logger *slog.Logger

	// hooks replace file writes and fsyncs; only tests set them.
	hooks *fileHooks
}

// fileHooks intercept the writes and fsyncs of segment files and the fsyncs of
// the directory.
type fileHooks struct {
	writeAt func(f *os.File, p []byte, off int64) (int, error)
	sync    func(f *os.File) error
	syncDir func(dir string) error
}

const (
	defaultFlushInterval = time.Second
	defaultBlockSize     = 256 << 10
	defaultLevel         = zstd.SpeedFastest
	defaultCacheBlocks   = 256
	defaultQueueBlocks   = 4
)

func (o Options) withDefaults() (Options, error) {
	if o.FlushInterval < 0 || o.BlockSize < 0 || o.QueueBlocks < 0 {
		return o, errors.New("options: negative FlushInterval, BlockSize or QueueBlocks")
	}
	if o.BlockSize > maxBlockSize {
		return o, fmt.Errorf("options: BlockSize %d over %d", o.BlockSize, maxBlockSize)
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = defaultFlushInterval
	}
	if o.BlockSize == 0 {
		o.BlockSize = defaultBlockSize
	}
	if o.Level == 0 {
		o.Level = defaultLevel
	}
	if o.CacheBlocks == 0 {
		o.CacheBlocks = defaultCacheBlocks
	}
	if o.QueueBlocks == 0 {
		o.QueueBlocks = defaultQueueBlocks
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hooks := fileHooks{}
	if o.hooks != nil {
		hooks = *o.hooks
	}
	o.hooks = &hooks
	if o.hooks.writeAt == nil {
		o.hooks.writeAt = (*os.File).WriteAt
	}
	if o.hooks.sync == nil {
		o.hooks.sync = (*os.File).Sync
	}
	if o.hooks.syncDir == nil {
		o.hooks.syncDir = syncDir
	}
	return o, nil
}

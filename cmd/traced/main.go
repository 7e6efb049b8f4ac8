// Command traced is the SIP trace server: it receives HEP (v1, v2, v3) over UDP and
// TCP and plain SIP over UDP, stores every packet in hourly zstd segment files with
// a bleve side index, deletes whole hours past retention, and answers searches on
// its control socket and web port.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // time zones for the pages, whatever the host has installed

	"github.com/urfave/cli/v2"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	app := newApp(func(ctx context.Context, cfg config) error {
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return run(ctx, cfg)
	})
	if err := app.RunContext(context.Background(), os.Args); err != nil {
		prefix := "traced:"
		if isJournal(os.Stderr) {
			prefix = "<3>" + prefix // an error in the journal (notify.go)
		}
		fmt.Fprintln(os.Stderr, prefix, err)
		os.Exit(1)
	}
}

// newApp returns the command line: one flag set for flags and TRACED_*
// environment variables, which calls action with the resulting config.
func newApp(action func(context.Context, config) error) *cli.App {
	return &cli.App{
		Name:    "traced",
		Usage:   "SIP trace server: HEP in, hourly segments, search, pcap",
		Version: version,
		Flags:   flags(),
		// List flags are split by configFrom: commas for addresses and keys, and
		// correlating headers keep their commas (HOMER's "Name,regexp" form).
		DisableSliceFlagSeparator: true,
		Action: func(c *cli.Context) error {
			cfg, err := configFrom(c)
			if err != nil {
				return err
			}
			return action(c.Context, cfg)
		},
	}
}

package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"traced/httpui"
)

func statusCmd() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show whether traced runs (systemd's view of traced.service) and what it received, stored and rejected",
		Description: `Asks systemd (over D-Bus) for the state of traced.service, and traced itself
(over its control socket in the data directory) for its figures: packets
received per listener, stored, rejected by reason, the index backlog, disk use
and retention. Where systemd is not running (a container, or traced started by
hand with make run) only traced's own figures are shown.

Exit status: 0 traced answers; 3 traced.service is installed but not running;
4 traced is not installed; 5 systemd is not running here and no traced answers
on the control socket; 1 any other error.`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print traced's figures as JSON, with systemd's view of the unit under \"unit\""}},
		Action: func(c *cli.Context) error {
			var unit *unitState
			var unitErr error
			if m, err := connect(c.Context); err != nil {
				unitErr = err
			} else {
				defer m.Close()
				if s, err := m.installed(c.Context); err != nil {
					unitErr = err
				} else {
					unit = &s
				}
			}
			fig, figErr := client(c).Status(c.Context)

			if c.Bool("json") {
				// traced's own figures at the top level, as before systemd's
				// view was added beside them.
				out := struct {
					*httpui.Status
					Unit      *unitState `json:"unit,omitempty"`
					UnitError string     `json:"unit_error,omitempty"`
					Error     string     `json:"error,omitempty"`
				}{Unit: unit}
				if unitErr != nil {
					out.UnitError = unitErr.Error()
				}
				if figErr == nil {
					out.Status = &fig
				} else {
					out.Error = figErr.Error()
				}
				if err := printJSON(c.App.Writer, out); err != nil {
					return err
				}
			} else {
				w := c.App.Writer
				if unit != nil {
					fmt.Fprintf(w, "%s: %s\n", unitName, unit.describe())
					if unit.Status != "" {
						fmt.Fprintf(w, "status:      %s\n", unit.Status)
					}
				} else {
					fmt.Fprintf(w, "%s: %v\n", unitName, unitErr)
				}
				if figErr == nil {
					printStatus(w, fig)
				} else {
					fmt.Fprintf(w, "traced:      %v\n", figErr)
				}
			}
			return statusExit(unit, unitErr, figErr)
		},
	}
}

// statusExit is the outcome of status: traced answering is success; otherwise
// the most telling of the unit's state and the error.
func statusExit(unit *unitState, unitErr, figErr error) error {
	if figErr == nil {
		return nil
	}
	var quiet = func(code int) error { return &exitError{code: code, err: errQuiet} }
	var ee *exitError
	switch {
	case errors.As(unitErr, &ee):
		return quiet(ee.code)
	case unit != nil && unit.Active != "active" && unit.Active != "reloading":
		return quiet(exitNotRunning)
	case errors.Is(figErr, httpui.ErrNotRunning):
		return quiet(exitNotRunning)
	}
	return quiet(1)
}

// errQuiet ends tracectl with its exit code after the command printed why.
var errQuiet = errors.New("")

func printStatus(w io.Writer, s httpui.Status) {
	fmt.Fprintf(w, "traced %s, running since %s (%s)\n", s.Version, s.Started.Format(time.RFC3339), time.Since(s.Started).Round(time.Second))
	fmt.Fprintf(w, "data:        %s\n", s.DataDir)
	fmt.Fprintf(w, "received:    %s\n", counts(s.Received))
	fmt.Fprintf(w, "stored:      %d (accepted %d, lost on write %d)\n", s.Stored, s.Accepted, s.LostRecords)
	var rej uint64
	for _, v := range s.Rejected {
		rej += v
	}
	fmt.Fprintf(w, "rejected:    %d %s\n", rej, counts(s.Rejected))
	var drops uint64
	for _, v := range s.KernelDrops {
		drops += v
	}
	if drops > 0 {
		fmt.Fprintf(w, "dropped:     %d by the kernel before traced could read them %s (overload or a small receive buffer)\n", drops, counts(s.KernelDrops))
	}
	fmt.Fprintf(w, "index:       backlog %d blocks, %d records", s.IndexBacklog.Blocks, s.IndexBacklog.Records)
	if s.IndexBacklog.Behind != "" {
		fmt.Fprintf(w, ", %s behind", s.IndexBacklog.Behind)
	}
	fmt.Fprintf(w, "; %s on disk\n", size(s.IndexBytes))
	fmt.Fprintf(w, "segments:    %d hours, %d records, %s on disk\n", s.Segments, s.Records, size(s.BytesOnDisk))
	if s.Oldest != nil && s.Newest != nil {
		fmt.Fprintf(w, "data from:   %s to %s\n", s.Oldest.Format(time.RFC3339), s.Newest.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "retention:   %d days, min free %s (disk %s free of %s); %d hours deleted, %s freed\n",
		s.RetentionDays, s.MinFree, size(int64(s.DiskFree)), size(int64(s.DiskTotal)), s.Deleted, size(int64(s.Freed)))
	if s.RecoveredCuts > 0 || s.Corruptions > 0 {
		fmt.Fprintf(w, "damage:      %d torn tails cut at start (%s), %d corrupt blocks read\n", s.RecoveredCuts, size(s.RecoveredBytes), s.Corruptions)
	}
}

func counts(m map[string]uint64) string {
	var keys []string
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	if b.Len() == 0 {
		return "(none)"
	}
	return "(" + b.String() + ")"
}

func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

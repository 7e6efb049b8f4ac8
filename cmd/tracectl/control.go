package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// jobTimeout bounds a start or restart: traced is active once it sent READY=1,
// after recovering its segments; a stop once it sealed the hour's file.
const jobTimeout = 90 * time.Second

func startCmd() *cli.Command {
	return unitJobCmd("start", "start traced.service (active once traced is ready to receive)")
}

func stopCmd() *cli.Command {
	return unitJobCmd("stop", "stop traced.service (it writes what it holds and seals the hour's segment first)")
}

func restartCmd() *cli.Command {
	return unitJobCmd("restart", "stop and start traced.service, for example after editing /etc/default/traced")
}

func unitJobCmd(verb, usage string) *cli.Command {
	return &cli.Command{
		Name:  verb,
		Usage: usage,
		Action: func(c *cli.Context) error {
			m, err := connect(c.Context)
			if err != nil {
				return err
			}
			defer m.Close()
			if _, err := m.installed(c.Context); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, jobTimeout)
			defer cancel()
			if err := m.job(ctx, verb); err != nil {
				return err
			}
			return reportState(c, m, verb != "stop")
		},
	}
}

// reportState prints the unit's state after a job, and fails when it is not
// the one asked for.
func reportState(c *cli.Context, m *manager, wantActive bool) error {
	s, err := m.state(c.Context)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s: %s\n", unitName, s.describe())
	if wantActive && s.Active != "active" {
		return exitf(exitNotRunning, "%s is %s, not running: see tracectl logs", unitName, s.Active)
	}
	if !wantActive && s.Active == "active" {
		return exitf(1, "%s is still active", unitName)
	}
	return nil
}

func rmCmd() *cli.Command {
	return &cli.Command{
		Name:  "rm",
		Usage: "stop traced.service and disable it, so that it no longer runs or starts at boot; data is kept unless --purge-data",
		Description: `Stops traced (it seals its files first), disables traced.service and clears
a failed state. The package stays installed: tracectl run starts traced again,
apt remove traced removes the software. With --purge-data the data directory
(segments, index, users, tokens) is deleted too, after a confirmation, or at
once with --yes.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "purge-data", Usage: "also delete the data directory and everything traced stored"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask before deleting data"},
		},
		Action: func(c *cli.Context) error {
			dir := dataDir(c)
			if c.Bool("purge-data") && !c.Bool("yes") {
				ok, err := confirm(c.App.Reader, c.App.Writer, fmt.Sprintf("Delete %s and every trace traced stored there? Type yes to confirm: ", dir))
				if err != nil {
					return err
				}
				if !ok {
					return exitf(1, "nothing removed: not confirmed")
				}
			}
			m, err := connect(c.Context)
			if err != nil {
				return err
			}
			defer m.Close()
			if _, err := m.installed(c.Context); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, jobTimeout)
			defer cancel()
			if err := m.job(ctx, "stop"); err != nil {
				return err
			}
			if err := m.disable(ctx); err != nil {
				return err
			}
			_ = m.conn.ResetFailedUnitContext(ctx, unitName)
			if err := reportState(c, m, false); err != nil {
				return err
			}
			if c.Bool("purge-data") {
				if err := purgeData(dir); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "deleted everything in %s\n", dir)
			} else {
				fmt.Fprintf(c.App.Writer, "data kept in %s (tracectl rm --purge-data deletes it)\n", dir)
			}
			fmt.Fprintln(c.App.Writer, "traced is stopped and will not start at boot; tracectl run starts it again")
			return nil
		},
	}
}

// confirm asks a question and reads the answer: only "yes" confirms.
func confirm(r io.Reader, w io.Writer, question string) (bool, error) {
	fmt.Fprint(w, question)
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		if err == io.EOF {
			return false, nil
		}
		return false, fmt.Errorf("read the answer: %w", err)
	}
	return strings.TrimSpace(line) == "yes", nil
}

// purgeData deletes everything in a data directory, refusing paths that cannot
// be one. The directory itself stays, with its owner and mode (it is the
// service's StateDirectory=, or a mount point).
func purgeData(dir string) error {
	clean := filepath.Clean(dir)
	if !filepath.IsAbs(clean) || strings.Count(clean, "/") < 2 {
		return fmt.Errorf("refusing to delete %q: not a data directory path", dir)
	}
	ents, err := os.ReadDir(clean)
	if err != nil {
		return fmt.Errorf("delete data: %w", err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(clean, e.Name())); err != nil {
			return fmt.Errorf("delete data: %w", err)
		}
	}
	return nil
}

func logsCmd() *cli.Command {
	return &cli.Command{
		Name:  "logs",
		Usage: "show traced's log from the journal (journalctl -u traced.service)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines"},
			&cli.IntFlag{Name: "lines", Aliases: []string{"n"}, Value: 100, Usage: "how many of the last lines to show (0: all)"},
			&cli.StringFlag{Name: "since", Usage: `start at this time ("2026-11-23 10:00", "1 hour ago", "today")`},
			&cli.StringFlag{Name: "priority", Usage: "only this level and above: err, warning, info, debug"},
		},
		Action: func(c *cli.Context) error {
			path, err := exec.LookPath("journalctl")
			if err != nil {
				return fmt.Errorf("journalctl is not installed: traced logs to standard error, which systemd sends to the journal")
			}
			args := []string{"journalctl", "-u", unitName, "--no-hostname"}
			if c.Bool("follow") {
				args = append(args, "-f")
			}
			if n := c.Int("lines"); n > 0 {
				args = append(args, "-n", strconv.Itoa(n))
			} else {
				args = append(args, "-n", "all")
			}
			if s := c.String("since"); s != "" {
				args = append(args, "--since", s)
			}
			if p := c.String("priority"); p != "" {
				args = append(args, "-p", p)
			}
			if c.App.Writer != os.Stdout {
				cmd := exec.CommandContext(c.Context, path, append(args[1:], "--no-pager")...)
				cmd.Stdout, cmd.Stderr = c.App.Writer, c.App.ErrWriter
				return cmd.Run()
			}
			return syscall.Exec(path, args, os.Environ())
		},
	}
}

// Command tracectl manages a traced daemon: its status, and searches of its
// archive, through the control socket in the data directory.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"traced/httpui"
)

var version = "dev"

func main() {
	app := newApp()
	if err := app.RunContext(context.Background(), os.Args); err != nil {
		os.Exit(exitCode(app.ErrWriter, err))
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "tracectl",
		Usage: "manage traced, the SIP trace server",
		Description: `tracectl runs and stops traced.service through systemd, changes its main
settings in /etc/default/traced, shows its state and logs, and searches,
exports and imports SIP through the control socket in traced's data
directory. Most commands need root or membership of the traced group.

First steps:
   tracectl run -p /var/lib/traced -k 7 -l 9080 -z 9061   settings, checks, (re)start
   tracectl status                                         is it up, what did it store
   tracectl logs -f                                        follow its log
   tracectl search --call-id ID                            find a call
   tracectl export --call-id ID -o call.pcap               a call for Wireshark
   tracectl import capture.pcapng                          SIP from a capture file

Shell completion: tracectl completion bash|zsh|fish (the package installs the
bash one).`,
		Version:              version,
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Aliases: []string{"p"}, Value: "/var/lib/traced", EnvVars: []string{"TRACED_DATA"},
				Usage: "traced's data directory (its control socket is there); by default TRACED_DATA from /etc/default/traced"},
		},
		Commands: []*cli.Command{
			statusCmd(), startCmd(), stopCmd(), restartCmd(), runCmd(), rmCmd(), logsCmd(),
			searchCmd(), exportCmd(), importCmd(), tokenCmd(), userCmd(), completionCmd(),
		},
	}
}

// exitCode prints err, unless the command already said why, and returns the
// exit status for it.
func exitCode(w io.Writer, err error) int {
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	} else if errors.Is(err, httpui.ErrNotRunning) {
		code = exitNotRunning
	}
	if !errors.Is(err, errQuiet) {
		fmt.Fprintln(w, "tracectl:", err)
	}
	return code
}

// dataDir is the data directory: --data or TRACED_DATA when given, else the
// one the service uses (TRACED_DATA in /etc/default/traced), else the default.
func dataDir(c *cli.Context) string {
	if c.IsSet("data") {
		return c.String("data")
	}
	if s, _, err := readSettings(defaultsPath()); err == nil {
		if v, ok := s.Get("TRACED_DATA"); ok && v != "" {
			return v
		}
	}
	return c.String("data")
}

func client(c *cli.Context) *httpui.Client {
	return httpui.NewClient(httpui.SocketPath(dataDir(c)))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func searchCmd() *cli.Command {
	params := []struct{ flag, param, usage string }{
		{"call-id", "call_id", "SIP Call-ID (also finds RTCP and logs correlated to it)"},
		{"session-id", "session_id", "X-Session-Id"},
		{"xcid", "xcid", "X-CID"},
		{"from-user", "from_user", "From user"},
		{"to-user", "to_user", "To user"},
		{"ruri-user", "ruri_user", "Request-URI user"},
		{"user", "user", "From, To, Request-URI or P-Asserted-Identity user"},
		{"ip", "ip", "source or destination IP"},
		{"method", "method", "SIP method (also matches the CSeq method of responses)"},
		{"status", "status", "SIP response code"},
		{"user-agent", "user_agent", "User-Agent or Server"},
		{"node", "node", "capture node name or capture id"},
		{"since", "since", "capture time from (RFC 3339, Unix seconds, or a duration back such as 2h)"},
		{"until", "until", "capture time to"},
		{"limit", "limit", "most messages to print (default 10000)"},
	}
	var fl []cli.Flag
	for _, p := range params {
		fl = append(fl, &cli.StringFlag{Name: p.flag, Usage: p.usage})
	}
	fl = append(fl, &cli.BoolFlag{Name: "json", Usage: "one JSON object per line per message"})
	return &cli.Command{
		Name:  "search",
		Usage: "find stored messages; a Call-ID, X-Session-Id or X-CID search covers the whole archive, others the last hour unless --since/--until say otherwise",
		Flags: fl,
		Action: func(c *cli.Context) error {
			q := url.Values{}
			for _, p := range params {
				if v := c.String(p.flag); v != "" {
					q.Set(p.param, v)
				}
			}
			res, err := client(c).Search(c.Context, q)
			if err != nil {
				return err
			}
			w := c.App.Writer
			if c.Bool("json") {
				enc := json.NewEncoder(w)
				for _, m := range res.Messages {
					if err := enc.Encode(m); err != nil {
						return err
					}
				}
			} else {
				for _, m := range res.Messages {
					printMessage(w, m)
				}
			}
			if res.More > 0 {
				fmt.Fprintf(c.App.ErrWriter, "tracectl: showing %d of %d matching messages; %d more (narrow the search or raise --limit)\n",
					len(res.Messages), res.Total, res.More)
			}
			if res.Unreadable > 0 {
				fmt.Fprintf(c.App.ErrWriter, "tracectl: %d damaged blocks could not be read\n", res.Unreadable)
			}
			return nil
		},
	}
}

// printMessage writes one message the way sipgrep and ngrep do.
func printMessage(w io.Writer, m httpui.Message) {
	t, _ := time.Parse(time.RFC3339Nano, m.Time)
	proto := "U"
	switch m.Transport {
	case "tcp":
		proto = "T"
	case "tls":
		proto = "S"
	case "sctp":
		proto = "C"
	}
	fmt.Fprintf(w, "%s %s %s -> %s [%s hep%d id=%d", proto, t.UTC().Format("2006/01/02 15:04:05.000000"), m.Src, m.Dst, m.Type, m.HEPVersion, m.CaptureID)
	if m.Node != "" {
		fmt.Fprintf(w, " node=%s", m.Node)
	}
	if m.CorrID != "" && m.Type != "sip" {
		fmt.Fprintf(w, " cid=%s", m.CorrID)
	}
	fmt.Fprintf(w, "]\n%s\n", strings.TrimRight(m.Raw, "\r\n"))
	fmt.Fprintln(w)
}

func tokenCmd() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "manage API tokens (Authorization: Bearer TOKEN on /api/v1/ and /metrics)",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create a token and print it (it is shown only once)", ArgsUsage: "NAME",
				Flags: []cli.Flag{&cli.StringFlag{Name: "role", Value: "viewer", Usage: "admin or viewer"}},
				Action: func(c *cli.Context) error {
					args, role, err := trailingRole(c.Args().Slice(), c.String("role"))
					if err != nil {
						return err
					}
					if len(args) != 1 {
						return fmt.Errorf("token create needs one NAME")
					}
					t, err := client(c).CreateToken(c.Context, args[0], role)
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, t.Secret)
					return nil
				},
			},
			{
				Name: "list", Usage: "list tokens (names and roles; secrets are not kept)",
				Action: func(c *cli.Context) error {
					ts, err := client(c).Tokens(c.Context)
					if err != nil {
						return err
					}
					for _, t := range ts {
						fmt.Fprintf(c.App.Writer, "%-24s %-7s %s\n", t.Name, t.Role, t.Created.Format(time.RFC3339))
					}
					return nil
				},
			},
			{
				Name: "revoke", Usage: "revoke a token", ArgsUsage: "NAME",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("token revoke needs one NAME")
					}
					return client(c).RevokeToken(c.Context, c.Args().First())
				},
			},
		},
	}
}

func userCmd() *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "manage web users",
		Subcommands: []*cli.Command{
			{
				Name: "passwd", Usage: "set a user's password (read from standard input); it must be changed at the next login",
				ArgsUsage: "NAME",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("user passwd needs one NAME")
					}
					pw, err := io.ReadAll(io.LimitReader(c.App.Reader, 4096))
					if err != nil {
						return err
					}
					return client(c).ResetPassword(c.Context, c.Args().First(), strings.TrimRight(string(pw), "\r\n"))
				},
			},
		},
	}
}

// trailingRole takes a --role given after the positional arguments
// ("token create NAME --role admin"), which the flag parser leaves among them.
func trailingRole(args []string, role string) ([]string, string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--role" || a == "-role":
			if i+1 >= len(args) {
				return nil, "", fmt.Errorf("--role needs admin or viewer")
			}
			role = args[i+1]
			i++
		case strings.HasPrefix(a, "--role=") || strings.HasPrefix(a, "-role="):
			role = a[strings.IndexByte(a, '=')+1:]
		default:
			rest = append(rest, a)
		}
	}
	if role != "admin" && role != "viewer" {
		return nil, "", fmt.Errorf("--role %q: admin or viewer", role)
	}
	return rest, role, nil
}

func exportCmd() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "write a call (every correlated leg) as a pcap for Wireshark, or as text in sngrep's style",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "call-id", Required: true, Usage: "the Call-ID of any leg of the call"},
			&cli.StringSliceFlag{Name: "legs", Usage: "only these legs' Call-IDs (repeatable; default: every leg)"},
			&cli.BoolFlag{Name: "text", Usage: "text in sngrep's style instead of pcap"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "file to write (- for standard output)"},
		},
		Action: func(c *cli.Context) error {
			out := c.String("output")
			var w io.Writer = c.App.Writer
			var f *os.File
			if out != "-" {
				var err error
				if f, err = os.CreateTemp(filepath.Dir(out), ".tracectl-export-*"); err != nil {
					return err
				}
				defer os.Remove(f.Name())
				w = f
			}
			err := client(c).ExportCall(c.Context, c.String("call-id"), c.StringSlice("legs"), c.Bool("text"), w)
			if f == nil {
				return err
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			return os.Rename(f.Name(), out)
		},
	}
}

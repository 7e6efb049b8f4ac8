//go:build genman

package main

// Built with the genman tag, traced prints its manual page (roff) and exits:
//
//	go run -tags genman ./cmd/traced > traced.8
//
// The page is rendered from the same urfave/cli app the daemon runs, so its
// options, environment variables and defaults are those of --help.
// MANPAGE_DATE (e.g. "2026-11-23") dates the page; packaging/deb passes the
// commit date so that builds are reproducible.

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func init() {
	cli.MarkdownDocTemplate = tracedManTemplate
	page, err := newApp(nil).ToManWithSection(8)
	if err != nil {
		fmt.Fprintln(os.Stderr, "traced: man page:", err)
		os.Exit(1)
	}
	fmt.Print(page)
	os.Exit(0)
}

var tracedManTemplate = `% TRACED 8 "` + os.Getenv("MANPAGE_DATE") + `" "traced ` + version + `" "traced manual"

# NAME

traced - {{ .App.Usage }}

# SYNOPSIS

**traced** [*OPTION*]...

# DESCRIPTION

**traced** receives SIP messages, RTCP reports and log lines as HEP (versions 1, 2 and 3) over UDP, TCP and
TLS, and plain SIP over UDP, from Kamailio (siptrace), OpenSIPS (proto_hep), FreeSWITCH, Asterisk (res_hep),
PBXs and capture agents such as heplify and captagent. It stores every packet in hourly zstd-compressed
segment files with a bleve side index, deletes whole hours past the retention or below the free-space
watermark, and finds calls again by Call-ID, X-Session-Id, X-CID, user, number or IP address.

Calls are searched and shown as ladders, compared and exported as pcap on the web pages (default port 9080;
the first login is **admin** / **admin** and must set a new password), through the JSON API, and with
**tracectl**(1) over the control socket in the data directory.

A record is durable after the next flush (**--flush-interval**): that is the most a crash can lose. Logs go
to standard error, which is the journal under systemd.

# OPTIONS

Every option can also be set with the environment variable shown; options given several times, or
comma-separated in the environment, add up.
{{ range $f := .App.VisibleFlags }}
{{ range $i, $n := $f.Names }}{{ if $i }}, {{ end }}{{ if gt (len $n) 1 }}**--{{ $n }}**{{ else }}**-{{ $n }}**{{ end }}{{ end }}{{ if $f.TakesValue }} *value*{{ end }}
: {{ $f.GetUsage }}{{ if $f.TakesValue }}{{ with $f.GetValue }}{{ if ne . "0" }} (default: {{ . }}){{ end }}{{ end }}{{ end }}.{{ range $f.GetEnvVars }} Environment: **{{ . }}**.{{ end }}
{{ end }}
**--help**, **-h**
: Show the options and exit.

**--version**, **-v**
: Print the version and exit.

# ENVIRONMENT

Each **TRACED_*** variable above sets its option; the service reads them from */etc/default/traced*.

**NOTIFY_SOCKET**, **WATCHDOG_USEC**
: Set by systemd for a **Type=notify** service. traced sends READY=1 once its segments are recovered and its
listeners bound, WATCHDOG=1 only while its listeners hand packets to the store, its UDP listeners read what is
queued for them and its segment writer completes flushes, STATUS= with the packet rate and the stored and
rejected counts, and STOPPING=1 when it stops.

# FILES

*/etc/default/traced*
: The service's settings, as **TRACED_*** variables.

*/var/lib/traced*
: The data directory: *segments/* (one zstd segment file per hour), *index/* (one bleve shard per hour),
the users and tokens of the web pages, and *traced.sock*, the control socket (mode 0660, group traced).

*traced.service*
: The systemd unit (**systemctl cat traced**): **systemctl status traced** shows the STATUS= line,
**journalctl -u traced** the logs. Settings beyond */etc/default/traced* go in a drop-in
(**systemctl edit traced**), for example a data directory elsewhere (**ReadWritePaths=**).

# EXIT STATUS

0 after a clean stop (SIGTERM or SIGINT); 1 when traced cannot start (a port in use, a data directory held by
another traced, a bad option) or when writing the segments failed while stopping.

# SEE ALSO

**tracectl**(1), **systemctl**(1), **journalctl**(1)
`

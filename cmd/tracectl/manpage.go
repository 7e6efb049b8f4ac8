//go:build genman

package main

// Built with the genman tag, tracectl prints its manual page (roff) and exits:
//
//	go run -tags genman ./cmd/tracectl > tracectl.1
//
// The page is rendered from the urfave/cli app that main runs: the app's help
// is asked for and the help printer renders the page instead, so commands,
// options and defaults are those of --help. MANPAGE_DATE dates the page.

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

func init() {
	os.Args = []string{"tracectl", "--help"}
	render := func(_ io.Writer, _ string, data any) {
		app, ok := data.(*cli.App)
		if !ok {
			fmt.Fprintf(os.Stderr, "tracectl: man page: help asked for %T, not the app\n", data)
			os.Exit(1)
		}
		cli.MarkdownDocTemplate = tracectlManTemplate
		page, err := app.ToManWithSection(1)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tracectl: man page:", err)
			os.Exit(1)
		}
		fmt.Print(page)
		os.Exit(0)
	}
	cli.HelpPrinter = render
	cli.HelpPrinterCustom = func(w io.Writer, templ string, data any, _ map[string]any) { render(w, templ, data) }
}

var tracectlManTemplate = `{{ define "flag" }}
{{ range $i, $n := .Names }}{{ if $i }}, {{ end }}{{ if gt (len $n) 1 }}**--{{ $n }}**{{ else }}**-{{ $n }}**{{ end }}{{ end }}{{ if .TakesValue }} *value*{{ end }}
: {{ .GetUsage }}{{ if .TakesValue }}{{ with .GetValue }}{{ if ne . "0" }} (default: {{ . }}){{ end }}{{ end }}{{ end }}.{{ range .GetEnvVars }} Environment: **{{ . }}**.{{ end }}
{{ end }}% TRACECTL 1 "` + os.Getenv("MANPAGE_DATE") + `" "traced ` + version + `" "traced manual"

# NAME

tracectl - {{ .App.Usage }}

# SYNOPSIS

**tracectl** [**--data** *DIR*] *COMMAND* [*OPTION*]... [*ARGUMENT*]...

# DESCRIPTION

**tracectl** talks to a running **traced**(8) through the control socket in its data directory
(*traced.sock*, mode 0660): it shows what traced received, stored and rejected, searches the archive,
exports a call as pcap or text, and manages the API tokens and the web users. Run it as root or as a
member of the **traced** group.

# GLOBAL OPTIONS
{{ range $f := .App.VisibleFlags }}{{ template "flag" $f }}{{ end }}
# COMMANDS
{{ range $c := .App.VisibleCommands }}{{ if ne $c.Name "help" }}
## {{ $c.Name }}{{ with $c.ArgsUsage }} *{{ . }}*{{ end }}

{{ $c.Usage }}.
{{ range $f := $c.VisibleFlags }}{{ template "flag" $f }}{{ end }}{{ range $s := $c.VisibleCommands }}{{ if ne $s.Name "help" }}
### {{ $c.Name }} {{ $s.Name }}{{ with $s.ArgsUsage }} *{{ . }}*{{ end }}

{{ $s.Usage }}.
{{ range $f := $s.VisibleFlags }}{{ template "flag" $f }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}
# EXIT STATUS

0 on success; 3 when traced is not running (no answer on the control socket); 1 on any other error.

# EXAMPLES

    tracectl status
    tracectl search --call-id 'a84b4c76e66710@pc33.example.com'
    tracectl search --from-user alice --since 2h --json
    tracectl export --call-id 'a84b4c76e66710@pc33.example.com' -o call.pcap
    tracectl token create grafana --role viewer
    tracectl user passwd admin < newpass.txt

# FILES

*/var/lib/traced/traced.sock*
: traced's control socket (with the default **--data**).

# SEE ALSO

**traced**(8)
`

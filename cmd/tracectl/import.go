package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"traced/capture"
	"traced/httpui"
)

// importSummary is what `tracectl import` reports for one file.
type importSummary struct {
	File     string         `json:"file"`
	Packets  int            `json:"packets"`   // packets in the file
	SIP      int            `json:"sip"`       // SIP messages found
	RTCP     int            `json:"rtcp"`      // RTCP packets found
	Sent     int            `json:"sent"`      // HEP packets sent to traced
	Stored   int            `json:"stored"`    // stored by traced
	Rejected map[string]int `json:"rejected"`  // refused by traced, by reason
	Skipped  map[string]int `json:"skipped"`   // packets (or stream stretches) that are not SIP or RTCP, by reason
	TooLarge int            `json:"too_large"` // messages too large for a HEP packet
	First    *time.Time     `json:"first,omitempty"`
	Last     *time.Time     `json:"last,omitempty"`
	// Reassembly: IP datagrams put back together from fragments, TCP streams
	// followed.
	IPv4Reassembled int `json:"ipv4_reassembled"`
	IPv6Reassembled int `json:"ipv6_reassembled"`
	TCPStreams      int `json:"tcp_streams"`
}

func importCmd() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "put the SIP and RTCP of pcap or pcapng files into traced's archive, at their capture times",
		ArgsUsage: "FILE.pcap|FILE.pcapng...",
		Description: `Reads each capture file (from tcpdump, Wireshark, sngrep...) and finds its SIP
messages and RTCP packets: over UDP, TCP (reassembled, several messages per segment
or one over several), WebSocket and SCTP, on any port, inside VLANs, IP-in-IP, GRE
and ERSPAN, with IP fragments put back together. Each is sent to the running
traced over its control socket as the HEP packet an agent would have sent when it
was captured, so it is stored with its original capture time and addresses, and
searches and call views find it by that time (use --since/--until around the
capture's time range, or search by Call-ID).

traced must be running (the command exits with status 3 when it is not): it owns
the archive. The summary says, per file, how many SIP and RTCP messages were found,
how many traced stored or rejected (and why), what was skipped (and why) and the
time range of the capture. Importing a file twice stores its messages twice.`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the summaries as JSON"}},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return errors.New("import: name at least one pcap or pcapng file")
			}
			var all []importSummary
			for _, path := range c.Args().Slice() {
				s, err := importFile(c, path)
				if err != nil {
					return err
				}
				if !c.Bool("json") {
					printImport(c.App.Writer, s)
				}
				all = append(all, s)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, all)
			}
			return nil
		},
	}
}

// importFile reads one capture and streams its messages as HEP to traced.
func importFile(c *cli.Context, path string) (importSummary, error) {
	s := importSummary{File: path}
	r, f, err := capture.Open(path)
	if err != nil {
		return s, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	type written struct {
		res capture.HEPResult
		err error
	}
	done := make(chan written, 1)
	go func() {
		res, err := capture.WriteHEP(pw, r)
		pw.CloseWithError(err)
		done <- written{res, err}
	}()
	res, err := client(c).Import(c.Context, pr)
	pr.CloseWithError(errors.New("import ended")) // unblocks the writer if traced stopped reading
	w := <-done
	if err != nil {
		return s, fmt.Errorf("import %s: %w", path, err)
	}
	if w.err != nil {
		return s, fmt.Errorf("import %s: %w", path, w.err)
	}
	sum := r.Summary()
	s.Packets, s.SIP, s.RTCP, s.Skipped = sum.Packets, sum.SIP, sum.RTCP, sum.Skipped
	s.IPv4Reassembled, s.IPv6Reassembled, s.TCPStreams = sum.IPv4Reassembled, sum.IPv6Reassembled, sum.TCPStreams
	s.Sent, s.TooLarge = w.res.Written, w.res.TooLarge
	s.Stored, s.Rejected = res.Stored, res.Rejected
	if !sum.First.IsZero() {
		first, last := sum.First.UTC(), sum.Last.UTC()
		s.First, s.Last = &first, &last
	}
	return s, nil
}

func printImport(w io.Writer, s importSummary) {
	fmt.Fprintf(w, "%s: %d packets read\n", s.File, s.Packets)
	if s.First != nil {
		fmt.Fprintf(w, "  captured:  %s to %s (%s)\n", s.First.Format(httpui.TimeFormat), s.Last.Format(httpui.TimeFormat),
			s.Last.Sub(*s.First).Round(time.Millisecond))
	}
	fmt.Fprintf(w, "  found:     %d SIP messages, %d RTCP packets", s.SIP, s.RTCP)
	var re []string
	if s.TCPStreams > 0 {
		re = append(re, fmt.Sprintf("%d TCP streams", s.TCPStreams))
	}
	if n := s.IPv4Reassembled + s.IPv6Reassembled; n > 0 {
		re = append(re, fmt.Sprintf("%d fragmented IP datagrams", n))
	}
	if len(re) > 0 {
		fmt.Fprintf(w, " (reassembled %s)", strings.Join(re, ", "))
	}
	fmt.Fprintln(w)
	rej := 0
	for _, n := range s.Rejected {
		rej += n
	}
	fmt.Fprintf(w, "  stored:    %d of %d sent to traced", s.Stored, s.Sent)
	if rej > 0 {
		fmt.Fprintf(w, "; %d rejected %s", rej, intCounts(s.Rejected))
	}
	fmt.Fprintln(w)
	if s.TooLarge > 0 {
		fmt.Fprintf(w, "  too large: %d messages over the 64 KiB a HEP packet can carry, not sent\n", s.TooLarge)
	}
	skipped := 0
	for _, n := range s.Skipped {
		skipped += n
	}
	if skipped > 0 {
		fmt.Fprintf(w, "  skipped:   %d, not SIP or RTCP %s\n", skipped, intCounts(s.Skipped))
	}
	if s.First != nil {
		fmt.Fprintf(w, "  find them: tracectl search --since %s --until %s\n",
			s.First.Truncate(time.Second).Format(time.RFC3339), s.Last.Add(time.Second).Truncate(time.Second).Format(time.RFC3339))
	}
}

// intCounts writes counts as (name=n ...), largest first.
func intCounts(m map[string]int) string {
	var keys []string
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return "(" + b.String() + ")"
}

// Command hepload is traced's load generator: it sends realistic SIP traffic
// (internal/sipgen: calls of seven messages with SDP, registrations, OPTIONS,
// every dialog with its own Call-ID and X-Session-Id) as HEPv3 to a HEP listener
// at a fixed rate, over UDP (batched sendmmsg) or TCP (one or more connections,
// buffered writes), for a fixed time, and reports what it sent.
//
//	hepload --addr 127.0.0.1:9060 --transport udp --rate 40000 --duration 60s
//
// The packets are generated before the clock starts and replayed from a ring
// whose Call-IDs and X-Session-Ids are renewed on every pass; each packet's HEP
// capture time is the time it is sent. A token bucket paces batches of up to
// --batch packets; a sender that falls behind catches up at most --burst worth
// of packets, and what it could not send shows as "behind" and in the achieved
// rate.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"traced/internal/loadbench"
)

func main() {
	app := &cli.App{
		Name:  "hepload",
		Usage: "send SIP traffic as HEPv3 at a fixed rate (a load generator for traced)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:9060", Usage: "HEP listener to send to (host:port)"},
			&cli.StringFlag{Name: "transport", Value: "udp", Usage: "udp or tcp"},
			&cli.Float64Flag{Name: "rate", Value: 20000, Usage: "packets per second, over all connections (0: as fast as possible)"},
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "how long to send"},
			&cli.IntFlag{Name: "conns", Value: 1, Usage: "UDP sockets or TCP connections, each sending its share of the rate"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "traffic seed (connection i uses seed+i)"},
			&cli.IntFlag{Name: "batch", Value: 64, Usage: "packets per sendmmsg call or TCP write"},
			&cli.IntFlag{Name: "pool", Usage: "packets generated ahead per connection (0: 131072/conns, at least 8192)"},
			&cli.DurationFlag{Name: "burst", Value: 200 * time.Millisecond, Usage: "most catch-up after a stall, as time at the rate"},
			&cli.BoolFlag{Name: "allow-remote", Usage: "allow an address that is not on the loopback"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "hepload:", err)
		os.Exit(1)
	}
}

func run(c *cli.Context) error {
	cfg := loadbench.SendConfig{
		Addr: c.String("addr"), Transport: c.String("transport"), Rate: c.Float64("rate"),
		Duration: c.Duration("duration"), Conns: c.Int("conns"), Seed: c.Uint64("seed"),
		Batch: c.Int("batch"), Pool: c.Int("pool"), Burst: c.Duration("burst"),
	}
	if !c.Bool("allow-remote") {
		if err := checkLoopback(cfg.Addr); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := loadbench.Send(ctx, cfg)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		return enc.Encode(res)
	}
	rate := "unlimited"
	if res.Rate > 0 {
		rate = fmt.Sprintf("%.0f/s", res.Rate)
	}
	fmt.Printf("%s to %s, %d connection(s), rate %s, %.1f s\n", res.Transport, res.Addr, res.Conns, rate, res.Seconds)
	fmt.Printf("sent %d packets (%d bytes): %.0f packets/s; behind %d; errors %d\n",
		res.Sent, res.Bytes, res.Achieved, res.Behind, res.Errors)
	for _, e := range res.ErrorSamples {
		fmt.Printf("  error: %s\n", e)
	}
	fmt.Printf("cpu %.2f s (%.0f%% of one core), %d batches; pool of %d packets generated in %.1f s\n",
		res.CPUSeconds, res.CPUPercent, res.Batches, res.PoolPackets, res.PoolSeconds)
	if res.Transport == "tcp" {
		fmt.Printf("peer read everything and closed: %v (%.2f s after the last write)\n", res.Drained, res.DrainSeconds)
	}
	return nil
}

// checkLoopback refuses to flood anything but this machine unless asked.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("--addr %s is not on the loopback (%s); pass --allow-remote to load another machine", addr, ip)
		}
	}
	return nil
}

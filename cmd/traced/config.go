package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"traced/correlate"
)

// flags is traced's one flag set: every flag can also be set with its TRACED_*
// environment variable, which is how /etc/default/traced configures the service.
// PortSIP's trace server short flags (-p, -k, -l, -z) are kept.
func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data", Aliases: []string{"p"}, Value: "/var/lib/traced", EnvVars: []string{"TRACED_DATA"},
			Usage: "data directory: segments, index, control socket"},
		&cli.IntFlag{Name: "retention-days", Aliases: []string{"k"}, Value: 5, EnvVars: []string{"TRACED_RETENTION_DAYS"},
			Usage: "delete whole hours older than this many days"},
		&cli.StringFlag{Name: "min-free", Value: "10%", EnvVars: []string{"TRACED_MIN_FREE"},
			Usage: "free-space watermark of the data filesystem, as a percentage (10%) or a size (20GiB); the oldest hours are deleted below it"},
		&cli.StringSliceFlag{Name: "hep-addr", Value: cli.NewStringSlice(":9060", ":9061"), EnvVars: []string{"TRACED_HEP_ADDR"},
			Usage: "HEP listen address, on UDP and TCP (repeatable)"},
		&cli.IntFlag{Name: "hep-port", Aliases: []string{"z"}, EnvVars: []string{"TRACED_HEP_PORT"},
			Usage: "port of the second HEP address (replaces 9061; PortSIP's -z)"},
		&cli.StringFlag{Name: "web-addr", Value: ":9080", EnvVars: []string{"TRACED_WEB_ADDR"},
			Usage: "web listen address"},
		&cli.IntFlag{Name: "web-port", Aliases: []string{"l"}, EnvVars: []string{"TRACED_WEB_PORT"},
			Usage: "web port (replaces the port of --web-addr; PortSIP's -l)"},
		&cli.StringFlag{Name: "web-tls-cert", EnvVars: []string{"TRACED_WEB_TLS_CERT"}, Usage: "PEM certificate: serve the web pages and API over HTTPS"},
		&cli.StringFlag{Name: "web-tls-key", EnvVars: []string{"TRACED_WEB_TLS_KEY"}, Usage: "PEM private key for --web-tls-cert"},
		&cli.StringSliceFlag{Name: "hep-auth-key", EnvVars: []string{"TRACED_HEP_AUTH_KEY"},
			Usage: "accept only HEP packets carrying one of these keys (HEPv3 chunk 0x0e; repeatable)"},
		&cli.StringSliceFlag{Name: "sip-addr", EnvVars: []string{"TRACED_SIP_ADDR"},
			Usage: "plain SIP listen address on UDP, for Kamailio siptrace duplicate_uri without HEP (repeatable; off by default)"},
		&cli.StringSliceFlag{Name: "hep-tls-addr", EnvVars: []string{"TRACED_HEP_TLS_ADDR"},
			Usage: "HEP over TLS (TCP) listen address, as heplify sends it; needs --tls-cert and --tls-key (repeatable)"},
		&cli.StringFlag{Name: "tls-cert", EnvVars: []string{"TRACED_TLS_CERT"}, Usage: "PEM certificate (chain) for --hep-tls-addr"},
		&cli.StringFlag{Name: "tls-key", EnvVars: []string{"TRACED_TLS_KEY"}, Usage: "PEM private key for --hep-tls-addr"},
		&cli.StringFlag{Name: "udp-rcvbuf", Value: "16MiB", EnvVars: []string{"TRACED_UDP_RCVBUF"},
			Usage: "receive buffer asked for each UDP socket; a larger one rides out longer stalls at high rates (the kernel caps it at net.core.rmem_max unless traced may force it)"},
		&cli.IntFlag{Name: "max-tcp-conns", Value: 4096, EnvVars: []string{"TRACED_MAX_TCP_CONNS"},
			Usage: "most HEP TCP and TLS connections open at once; more are refused and counted"},
		&cli.DurationFlag{Name: "tcp-idle", Value: 15 * time.Minute, EnvVars: []string{"TRACED_TCP_IDLE"},
			Usage: "a HEP TCP or TLS connection silent this long is closed"},
		&cli.DurationFlag{Name: "retention-interval", Value: time.Minute, EnvVars: []string{"TRACED_RETENTION_INTERVAL"},
			Usage: "how often retention and the free-space watermark are checked"},
		&cli.StringSliceFlag{Name: "correlate-header", EnvVars: []string{"TRACED_CORRELATE_HEADER"},
			Usage: "a header that joins call legs carrying the same value, as HOMER's AlegIDs: NAME or NAME,REGEXP with one capture group, e.g. 'P-Charging-Vector,icid-value=\"?([^\";]+)' (repeatable; in the environment separate several with ||)"},
		&cli.DurationFlag{Name: "flush-interval", Value: time.Second, EnvVars: []string{"TRACED_FLUSH_INTERVAL"},
			Usage: "how often buffered packets are written and synced; the most a crash can lose"},
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"TRACED_LOG_LEVEL"},
			Usage: "debug, info, warn or error"},
	}
}

// config is everything run needs, decided from the flags in one place.
type config struct {
	DataDir          string
	RetentionDays    int
	MinFreeFrac      float64
	MinFreeBytes     uint64
	MinFreeText      string
	HEPAddrs         []string
	WebAddr          string
	WebTLSCert       string
	WebTLSKey        string
	AuthKeys         []string
	SIPAddrs         []string
	TLSAddrs         []string
	CorrelateHeaders []correlate.Header
	TLSCert          string
	TLSKey           string
	MaxTCPConns      int
	UDPReadBuffer    int
	TCPIdle          time.Duration
	RetentionEvery   time.Duration
	FlushInterval    time.Duration
	Logger           *slog.Logger
}

func configFrom(c *cli.Context) (config, error) {
	cfg := config{
		DataDir:        c.String("data"),
		RetentionDays:  c.Int("retention-days"),
		HEPAddrs:       splitList(c.StringSlice("hep-addr")),
		WebAddr:        c.String("web-addr"),
		WebTLSCert:     c.String("web-tls-cert"),
		WebTLSKey:      c.String("web-tls-key"),
		AuthKeys:       splitList(c.StringSlice("hep-auth-key")),
		SIPAddrs:       splitList(c.StringSlice("sip-addr")),
		FlushInterval:  c.Duration("flush-interval"),
		MinFreeText:    c.String("min-free"),
		TLSAddrs:       splitList(c.StringSlice("hep-tls-addr")),
		TLSCert:        c.String("tls-cert"),
		TLSKey:         c.String("tls-key"),
		MaxTCPConns:    c.Int("max-tcp-conns"),
		TCPIdle:        c.Duration("tcp-idle"),
		RetentionEvery: c.Duration("retention-interval"),
	}
	for _, v := range c.StringSlice("correlate-header") {
		for _, one := range strings.Split(v, "||") {
			if one = strings.TrimSpace(one); one == "" {
				continue
			}
			h, err := correlate.ParseHeader(one)
			if err != nil {
				return cfg, fmt.Errorf("--correlate-header: %w", err)
			}
			cfg.CorrelateHeaders = append(cfg.CorrelateHeaders, h)
		}
	}
	if (cfg.WebTLSCert == "") != (cfg.WebTLSKey == "") {
		return cfg, fmt.Errorf("--web-tls-cert and --web-tls-key go together")
	}
	if len(cfg.TLSAddrs) > 0 && (cfg.TLSCert == "" || cfg.TLSKey == "") {
		return cfg, fmt.Errorf("--hep-tls-addr needs --tls-cert and --tls-key")
	}
	if _, n, err := parseMinFree(c.String("udp-rcvbuf")); err != nil || n < 64<<10 || n > 1<<30 {
		return cfg, fmt.Errorf("--udp-rcvbuf %q: a size from 64KiB to 1GiB", c.String("udp-rcvbuf"))
	} else {
		cfg.UDPReadBuffer = int(n)
	}
	if cfg.MaxTCPConns < 1 || cfg.TCPIdle <= 0 || cfg.RetentionEvery <= 0 {
		return cfg, fmt.Errorf("--max-tcp-conns, --tcp-idle and --retention-interval must be positive")
	}
	if cfg.RetentionDays < 1 {
		return cfg, fmt.Errorf("--retention-days %d: must be at least 1", cfg.RetentionDays)
	}
	var err error
	if cfg.MinFreeFrac, cfg.MinFreeBytes, err = parseMinFree(cfg.MinFreeText); err != nil {
		return cfg, err
	}
	if p := c.Int("hep-port"); p != 0 {
		if len(cfg.HEPAddrs) < 2 {
			cfg.HEPAddrs = append(cfg.HEPAddrs, "")
		}
		cfg.HEPAddrs[1] = withPort(cfg.HEPAddrs[1], p)
	}
	if p := c.Int("web-port"); p != 0 {
		cfg.WebAddr = withPort(cfg.WebAddr, p)
	}
	if cfg.FlushInterval <= 0 {
		return cfg, fmt.Errorf("--flush-interval %s: must be positive", cfg.FlushInterval)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return cfg, fmt.Errorf("--log-level: %w", err)
	}
	cfg.Logger = slog.New(logHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	return cfg, nil
}

// splitList flattens repeated and comma-separated values.
func splitList(in []string) []string {
	var out []string
	for _, v := range in {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func withPort(addr string, port int) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// parseMinFree parses "10%" or a size such as "20GiB", "500MB", "1073741824".
func parseMinFree(s string) (frac float64, bytes uint64, err error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "%") {
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || f < 0 || f >= 100 {
			return 0, 0, fmt.Errorf("--min-free %q: a percentage from 0 to 99", s)
		}
		return f / 100, 0, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, 0, fmt.Errorf("--min-free %q: a percentage (10%%) or a size (20GiB)", s)
	}
	return 0, uint64(f * mult), nil
}

package httpui

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// statusCollector turns the daemon's status into Prometheus metrics at scrape
// time, so every figure has exactly one source: the counters the status page and
// tracectl show.
type statusCollector struct {
	status StatusFunc
	descs  map[string]*prometheus.Desc
}

// metricDef is one metric: name, help, labels.
type metricDef struct {
	name, help string
	labels     []string
}

func metricDefs() []metricDef {
	return []metricDef{
		{"traced_packets_received_total", "Packets read from the network, by listener (udp, tcp, tls, sip).", []string{"listener"}},
		{"traced_bytes_received_total", "Bytes of the packets read, by listener.", []string{"listener"}},
		{"traced_packets_accepted_total", "Packets that passed every check and were handed to the store.", nil},
		{"traced_packets_stored_total", "Records durably written to the segments.", nil},
		{"traced_packets_ignored_total", "Packets ignored on purpose (heplify's end-of-session HEP type 0).", nil},
		{"traced_packets_rejected_total", "Packets rejected, by listener and reason.", []string{"listener", "reason"}},
		{"traced_kernel_drops_total", "Datagrams the kernel dropped because traced's receive buffer was full, by listener.", []string{"listener"}},
		{"traced_records_lost_total", "Records lost because a segment write failed (for example a full disk).", nil},
		{"traced_write_errors_total", "Segment write failures.", nil},
		{"traced_corrupt_blocks_total", "Segment blocks that failed their checksum when read.", nil},
		{"traced_recovery_cuts_total", "Torn segment tails cut off when traced started.", nil},
		{"traced_recovery_cut_bytes_total", "Bytes of torn segment tails cut off when traced started.", nil},
		{"traced_tcp_connections", "HEP TCP and TLS connections open.", nil},
		{"traced_index_backlog_blocks", "Segment blocks written but not yet searchable.", nil},
		{"traced_index_backlog_records", "Records written but not yet searchable.", nil},
		{"traced_segments", "Hourly segment files.", nil},
		{"traced_segment_records", "Records in the segment files.", nil},
		{"traced_segment_bytes", "Bytes of segment files on disk.", nil},
		{"traced_index_bytes", "Bytes of the index on disk.", nil},
		{"traced_disk_free_bytes", "Free bytes on the data filesystem.", nil},
		{"traced_disk_size_bytes", "Size of the data filesystem.", nil},
		{"traced_retention_deleted_hours_total", "Hours deleted by retention (age or free-space watermark).", nil},
		{"traced_retention_freed_bytes_total", "Bytes freed by retention.", nil},
		{"traced_retention_days", "Configured retention in days.", nil},
		{"traced_oldest_record_timestamp_seconds", "Capture time of the oldest stored record.", nil},
		{"traced_newest_record_timestamp_seconds", "Capture time of the newest stored record.", nil},
	}
}

func newStatusCollector(status StatusFunc) *statusCollector {
	c := &statusCollector{status: status, descs: map[string]*prometheus.Desc{}}
	for _, d := range metricDefs() {
		c.descs[d.name] = prometheus.NewDesc(d.name, d.help, d.labels, nil)
	}
	return c
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.status()
	counter := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, v, labels...)
	}
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	for l, v := range s.Received {
		counter("traced_packets_received_total", float64(v), l)
	}
	for l, v := range s.ReceivedBytes {
		counter("traced_bytes_received_total", float64(v), l)
	}
	for l, reasons := range s.RejectedBy {
		for r, v := range reasons {
			counter("traced_packets_rejected_total", float64(v), l, r)
		}
	}
	for l, v := range s.KernelDrops {
		counter("traced_kernel_drops_total", float64(v), l)
	}
	counter("traced_packets_accepted_total", float64(s.Accepted))
	counter("traced_packets_stored_total", float64(s.Stored))
	counter("traced_packets_ignored_total", float64(s.Ignored))
	counter("traced_records_lost_total", float64(s.LostRecords))
	counter("traced_write_errors_total", float64(s.WriteErrors))
	counter("traced_corrupt_blocks_total", float64(s.Corruptions))
	counter("traced_recovery_cuts_total", float64(s.RecoveredCuts))
	counter("traced_recovery_cut_bytes_total", float64(s.RecoveredBytes))
	gauge("traced_tcp_connections", float64(s.TCPOpen))
	gauge("traced_index_backlog_blocks", float64(s.IndexBacklog.Blocks))
	gauge("traced_index_backlog_records", float64(s.IndexBacklog.Records))
	gauge("traced_segments", float64(s.Segments))
	gauge("traced_segment_records", float64(s.Records))
	gauge("traced_segment_bytes", float64(s.BytesOnDisk))
	gauge("traced_index_bytes", float64(s.IndexBytes))
	gauge("traced_disk_free_bytes", float64(s.DiskFree))
	gauge("traced_disk_size_bytes", float64(s.DiskTotal))
	counter("traced_retention_deleted_hours_total", float64(s.Deleted))
	counter("traced_retention_freed_bytes_total", float64(s.Freed))
	gauge("traced_retention_days", float64(s.RetentionDays))
	if s.Oldest != nil {
		gauge("traced_oldest_record_timestamp_seconds", float64(s.Oldest.UnixMicro())/1e6)
	}
	if s.Newest != nil {
		gauge("traced_newest_record_timestamp_seconds", float64(s.Newest.UnixMicro())/1e6)
	}
}

// MetricsHandler serves /metrics: traced's own figures from status, the traffic
// statistics from st (nil: none), plus the Go
// runtime and process collectors. Each handler has its own registry (no global
// state).
func MetricsHandler(status StatusFunc, st StatsSource) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStatusCollector(status),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if st != nil {
		reg.MustRegister(newStatsCollector(st))
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

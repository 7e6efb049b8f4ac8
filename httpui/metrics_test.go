package httpui

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsFromStatus(t *testing.T) {
	oldest := time.Unix(1_700_000_000, 500_000_000)
	st := Status{
		Received: map[string]uint64{"udp": 10, "tcp": 3}, ReceivedBytes: map[string]uint64{"udp": 6000},
		Rejected:   map[string]uint64{"bad_magic": 2, "auth_wrong": 0},
		RejectedBy: map[string]map[string]uint64{"udp": {"bad_magic": 2, "auth_wrong": 0}, "tcp": {"tcp_garbage": 1}}, KernelDrops: map[string]uint64{"udp": 4},
		Accepted: 11, Stored: 11, LostRecords: 1, IndexBacklog: Backlog{Blocks: 2, Records: 30},
		Segments: 5, BytesOnDisk: 12345, Deleted: 3, Freed: 999, RecoveredCuts: 1, Corruptions: 2,
		Oldest: &oldest, RetentionDays: 5,
	}
	c := newStatusCollector(func() Status { return st })
	if n := testutil.CollectAndCount(c); n < 20 {
		t.Errorf("%d metrics collected", n)
	}
	want := `
# HELP traced_packets_received_total Packets read from the network, by listener (udp, tcp, tls, sip).
# TYPE traced_packets_received_total counter
traced_packets_received_total{listener="tcp"} 3
traced_packets_received_total{listener="udp"} 10
# HELP traced_packets_rejected_total Packets rejected, by listener and reason.
# TYPE traced_packets_rejected_total counter
traced_packets_rejected_total{listener="tcp",reason="tcp_garbage"} 1
traced_packets_rejected_total{listener="udp",reason="auth_wrong"} 0
traced_packets_rejected_total{listener="udp",reason="bad_magic"} 2
# HELP traced_kernel_drops_total Datagrams the kernel dropped because traced's receive buffer was full, by listener.
# TYPE traced_kernel_drops_total counter
traced_kernel_drops_total{listener="udp"} 4
# HELP traced_index_backlog_records Records written but not yet searchable.
# TYPE traced_index_backlog_records gauge
traced_index_backlog_records 30
# HELP traced_oldest_record_timestamp_seconds Capture time of the oldest stored record.
# TYPE traced_oldest_record_timestamp_seconds gauge
traced_oldest_record_timestamp_seconds 1.7000000005e+09
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "traced_packets_received_total",
		"traced_packets_rejected_total", "traced_kernel_drops_total", "traced_index_backlog_records",
		"traced_oldest_record_timestamp_seconds"); err != nil {
		t.Error(err)
	}

	srv := httptest.NewServer(MetricsHandler(func() Status { return st }, nil))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"traced_packets_stored_total 11", "traced_retention_deleted_hours_total 3", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

package httpui

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"traced/stats"
)

// statsCollector exposes the traffic statistics (package stats) at scrape
// time. The SIP counters are cumulative over every hour traced has counted,
// including hours retention deleted (stats.Cumulative): they never go down and
// are the same after a restart. Labels are bounded: methods are a fixed set
// plus OTHER, status codes 100-699, outcomes and alarm kinds fixed words.
type statsCollector struct {
	src                                   StatsSource
	requests, responses, calls, regs      *prometheus.Desc
	alarms, pdd, setup, asr, ner, lastAtt *prometheus.Desc
	rtcpJitter, rtcpLoss, rtcpMOS         *prometheus.Desc
}

func newStatsCollector(src StatsSource) *statsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &statsCollector{src: src,
		requests:   d("traced_sip_requests_total", "Distinct SIP requests (copies from several capture points once), by method.", "method"),
		responses:  d("traced_sip_responses_total", "Distinct SIP responses, by status code.", "code"),
		calls:      d("traced_calls_total", "Call attempts (initial INVITEs) and their outcomes: attempted, answered, failed, and among the failed busy, no_answer, rejected, unresolved.", "outcome"),
		regs:       d("traced_registrations_total", "Final responses to REGISTER: ok, challenge (401/407), failed.", "result"),
		alarms:     d("traced_scanner_alarms_total", "Scanner alarms: ua (a scanner's User-Agent), auth_burst (a burst of 401/403/404 to one address).", "kind"),
		pdd:        d("traced_call_pdd_seconds", "Post-dial delay: INVITE to the first 18x (or the 2xx)."),
		setup:      d("traced_call_setup_seconds", "Call setup time: INVITE to the 2xx."),
		asr:        d("traced_asr_ratio", "Answer seizure ratio over the last 60 minutes (answered / attempts)."),
		ner:        d("traced_ner_ratio", "Network effectiveness ratio over the last 60 minutes (ITU-T E.425)."),
		lastAtt:    d("traced_call_attempts_last_hour", "Call attempts in the last 60 minutes (the base of the ASR and NER gauges)."),
		rtcpJitter: d("traced_rtcp_jitter_seconds", "Interarrival jitter of the RTCP report blocks received since the start (RTP units at 8 kHz)."),
		rtcpLoss:   d("traced_rtcp_fraction_lost", "Fraction lost of the RTCP report blocks received since the start."),
		rtcpMOS:    d("traced_rtcp_mos", "MOS per RTCP report block since the start: the XR block's, else the E-model's for G.711."),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.responses, c.calls, c.regs, c.alarms, c.pdd, c.setup,
		c.asr, c.ner, c.lastAtt, c.rtcpJitter, c.rtcpLoss, c.rtcpMOS} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	rep := stats.ReportOf(c.src.Cumulative())
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, m := range rep.Requests {
		counter(c.requests, m.Count, m.Name)
	}
	for _, r := range rep.Responses {
		counter(c.responses, r.Count, strconv.Itoa(r.Code))
	}
	k := rep.Calls
	for _, o := range []struct {
		name string
		v    int64
	}{{"attempted", k.Attempts}, {"answered", k.Answered}, {"failed", k.Failed}, {"busy", k.Busy},
		{"no_answer", k.NoAnswer}, {"rejected", k.Rejected}, {"unresolved", k.Unresolved}} {
		counter(c.calls, o.v, o.name)
	}
	counter(c.regs, rep.Registrations.OK, "ok")
	counter(c.regs, rep.Registrations.Challenges, "challenge")
	counter(c.regs, rep.Registrations.Failed, "failed")
	counter(c.alarms, rep.Alarms.UA, "ua")
	counter(c.alarms, rep.Alarms.AuthBurst, "auth_burst")
	ch <- delayHistogram(c.pdd, rep.PDD)
	ch <- delayHistogram(c.setup, rep.Setup)
	att, ans, eff := c.src.LastHour()
	ch <- prometheus.MustNewConstMetric(c.lastAtt, prometheus.GaugeValue, float64(att))
	if att > 0 {
		ch <- prometheus.MustNewConstMetric(c.asr, prometheus.GaugeValue, float64(ans)/float64(att))
		ch <- prometheus.MustNewConstMetric(c.ner, prometheus.GaugeValue, float64(eff)/float64(att))
	}
	r := c.src.RTCP()
	ch <- distHistogram(c.rtcpJitter, r.Jitter, 1e-3)
	ch <- distHistogram(c.rtcpLoss, r.Loss, 1)
	ch <- distHistogram(c.rtcpMOS, r.MOS, 1)
}

// delayHistogram is a delay report (per-bucket counts in ms) as a histogram in
// seconds.
func delayHistogram(d *prometheus.Desc, r stats.DelayReport) prometheus.Metric {
	var bounds []float64
	var counts []int64
	for _, b := range r.Buckets {
		if b.LeMS > 0 {
			bounds = append(bounds, float64(b.LeMS)/1000)
		}
		counts = append(counts, b.Count)
	}
	return histogram(d, bounds, counts, r.Samples, r.MeanMS*float64(r.Samples)/1000)
}

// distHistogram is a distribution as a histogram, its values multiplied by
// scale.
func distHistogram(d *prometheus.Desc, dist stats.Dist, scale float64) prometheus.Metric {
	bounds := make([]float64, len(dist.Bounds))
	for i, b := range dist.Bounds {
		bounds[i] = b * scale
	}
	return histogram(d, bounds, dist.Buckets, dist.Count, dist.Sum*scale)
}

// histogram makes a Prometheus histogram of per-bucket counts (counts[i] for
// values up to bounds[i], a last count above them).
func histogram(d *prometheus.Desc, bounds []float64, counts []int64, count int64, sum float64) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		if i < len(counts) {
			cum += uint64(counts[i])
		}
		buckets[b] = cum
	}
	return prometheus.MustNewConstHistogram(d, uint64(count), sum, buckets)
}

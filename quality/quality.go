// Package quality holds a call's quality and logs: it finds, for every leg of
// a correlated call, the quality reports traced stored (qos decodes them) and
// the log lines, and builds the call's media streams.
//
// A call's quality records are:
//
//   - the packets correlate already put in the call by HEP correlation id
//     (chunk 0x11 equal to a leg's Call-ID, or to a correlation id the legs'
//     SIP packets carry): RTCP as JSON or binary (HEP type 5) and the type 35
//     short reports;
//   - the end-of-call statistics headers (X-RTP-Stat, P-RTP-Stat,
//     RTP-RxStat, RTP-TxStat) of the call's BYE requests and their responses;
//   - SIP PUBLISH requests with an application/vq-rtcpxr body whose CallID
//     line, or whose own Call-ID, is one of the legs' Call-IDs, captured
//     within the call's window (correlate.Call.Since to Until);
//   - HEP type 5 packets without a correlation id whose source or destination
//     is a media address of the call's SDP (the c= address with the a=rtcp:
//     port, or the m= port + 1, or the m= port itself for rtcp-mux), captured
//     within the call's window: what a pcap import or a plain RTCP capture
//     stores.
//
// The logs are the call's HEP type 100 packets, in capture time order.
//
// Dependencies run one way: quality reads correlate's calls and runs searches
// (search), and qos decodes; httpui shows the result.
package quality

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"traced/correlate"
	"traced/index"
	"traced/ingest/record"
	"traced/ingest/sip"
	"traced/qos"
	"traced/search"
)

// Searcher runs a search; *search.Searcher satisfies it.
type Searcher interface {
	Search(ctx context.Context, q search.Query) (search.Result, error)
}

// Missing is an SDP media address of a leg with no report on the stream
// received there.
type Missing struct {
	Leg       string
	From, To  netip.AddrPort // RTP addresses: the peer's SDP media (invalid when unknown) and this one
	Codec     string
	ClockRate int
}

// Quality is a call's quality.
type Quality struct {
	Records []qos.Record
	Media   []qos.LegMedia
	Streams []qos.Stream
	// Missing lists the SDP media whose received stream has no report.
	Missing []Missing
	// Undecoded counts quality packets that could not be decoded.
	Undecoded int
}

// statHeaderNames are the statistics headers looked for in BYE and its
// responses.
func statHeaderNames() []string {
	return []string{"X-RTP-Stat", "P-RTP-Stat", "RTP-RxStat", "RTP-TxStat", "X-RTP-Stats", "X-Siemens-RTP-stats"}
}

// Of finds the quality records of every leg of c and builds its streams.
func Of(ctx context.Context, s Searcher, c *correlate.Call) (*Quality, error) {
	q := &Quality{}
	legOf := map[string]int{}
	for i, l := range c.Legs {
		legOf[l.CallID] = i
	}
	seen := map[string]bool{}
	corrIDs := map[string]bool{}
	for i := range c.Messages {
		m := &c.Messages[i]
		seen[hitRef(&m.Hit)] = true
		leg := c.Legs[m.Leg].CallID
		if id := string(m.Msg.CorrID); id != "" {
			corrIDs[id] = true
		}
		q.addMessage(&m.Msg, leg)
	}
	if s != nil && !c.Since.IsZero() {
		if err := q.searchRTCP(ctx, s, c, seen, corrIDs, legOf); err != nil {
			return nil, err
		}
		if err := q.searchPublish(ctx, s, c, seen, legOf); err != nil {
			return nil, err
		}
	}
	q.Streams = qos.Build(q.Records, q.Media)
	order := map[string]int{}
	for i, l := range c.Legs {
		order[l.CallID] = i
	}
	qos.SortStreams(q.Streams, order)
	q.Missing = missing(q.Media, q.Streams)
	return q, nil
}

func hitRef(h *search.Hit) string { return fmt.Sprintf("%s/%d", h.Ref, h.N) }

// addMessage takes what m says about quality: a report, SDP media, a
// statistics header.
func (q *Quality) addMessage(m *record.Message, leg string) {
	at := record.TimeOf(m.Time)
	rec := qos.Record{Time: at, Leg: leg, Src: unmap(m.Src), Dst: unmap(m.Dst)}
	switch {
	case m.Type == 5:
		r, kind, err := qos.DecodeRTCP(m.Payload)
		if err != nil {
			q.Undecoded++
			return
		}
		rec.Kind, rec.RTCP = kind, r
		q.Records = append(q.Records, rec)
	case m.Type == 35:
		r, err := qos.DecodeShort(m.Payload)
		if err != nil {
			q.Undecoded++
			return
		}
		rec.Kind, rec.Short = qos.KindMOS, r
		q.Records = append(q.Records, rec)
	case m.IsSIP:
		h := &m.SIP
		ct := strings.ToLower(string(h.ContentType))
		if strings.Contains(ct, "sdp") && len(h.Body) > 0 {
			for _, md := range qos.ParseSDP(h.Body) {
				lm := qos.LegMedia{Leg: leg, Media: md}
				if !slices.ContainsFunc(q.Media, func(o qos.LegMedia) bool { return o.Leg == leg && o.RTP == md.RTP }) {
					q.Media = append(q.Media, lm)
				}
			}
		}
		if strings.Contains(ct, "vq-rtcpxr") {
			if vq, err := qos.DecodeVQ(h.Body); err == nil {
				rec.Kind, rec.VQ = qos.KindRTCPXR, vq
				q.Records = append(q.Records, rec)
			} else {
				q.Undecoded++
			}
		}
		if string(h.CSeqMethod) == "BYE" {
			var st *qos.CallStat
			for _, name := range statHeaderNames() {
				v := sip.Header(m.Payload, name)
				if len(v) == 0 {
					continue
				}
				one, err := qos.DecodeStatHeader(name, string(v))
				if err != nil {
					continue
				}
				if st == nil {
					st = one
				} else {
					st.Merge(one)
				}
			}
			if st != nil {
				rec.Kind, rec.Stat = st.Kind, st
				q.Records = append(q.Records, rec)
			}
		}
	}
}

func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// searchRTCP adds the type 5 packets without a correlation id (or with one of
// the call's) sent from or to a media address of the call's SDP within its
// window.
func (q *Quality) searchRTCP(ctx context.Context, s Searcher, c *correlate.Call, seen, corrIDs map[string]bool, legOf map[string]int) error {
	var ips []netip.Addr
	for _, m := range q.Media {
		for _, a := range []netip.Addr{m.RTP.Addr(), m.RTCP.Addr()} {
			if a.IsValid() && !a.IsUnspecified() && !slices.Contains(ips, a) {
				ips = append(ips, a)
			}
		}
	}
	for _, ip := range ips {
		res, err := s.Search(ctx, search.Query{Query: index.Query{IP: ip.String(), Type: "5",
			Since: c.Since.UnixMicro(), Until: c.Until.UnixMicro()}})
		if err != nil {
			return fmt.Errorf("quality: search rtcp of %s: %w", ip, err)
		}
		for i := range res.Hits {
			h := &res.Hits[i]
			ref := hitRef(h)
			if seen[ref] {
				continue
			}
			if id := string(h.Msg.CorrID); id != "" && !corrIDs[id] {
				if _, ok := legOf[id]; !ok {
					continue // another call's report
				}
			}
			src, dst := unmap(h.Msg.Src), unmap(h.Msg.Dst)
			leg := ""
			for _, m := range q.Media {
				if m.Matches(src) || m.Matches(dst) {
					leg = m.Leg
					break
				}
			}
			if leg == "" {
				continue
			}
			seen[ref] = true
			q.addMessage(&h.Msg, leg)
		}
	}
	return nil
}

// searchPublish adds the PUBLISH vq-rtcpxr reports naming one of the legs.
func (q *Quality) searchPublish(ctx context.Context, s Searcher, c *correlate.Call, seen map[string]bool, legOf map[string]int) error {
	res, err := s.Search(ctx, search.Query{Query: index.Query{Method: "PUBLISH",
		Since: c.Since.UnixMicro(), Until: c.Until.UnixMicro()}})
	if err != nil {
		return fmt.Errorf("quality: search publish: %w", err)
	}
	for i := range res.Hits {
		h := &res.Hits[i]
		ref := hitRef(h)
		if seen[ref] || !h.Msg.IsSIP || !strings.Contains(strings.ToLower(string(h.Msg.SIP.ContentType)), "vq-rtcpxr") {
			continue
		}
		vq, err := qos.DecodeVQ(h.Msg.SIP.Body)
		if err != nil {
			q.Undecoded++
			continue
		}
		leg := vq.CallID
		if _, ok := legOf[leg]; !ok {
			leg = string(h.Msg.SIP.CallID)
			if _, ok := legOf[leg]; !ok {
				continue
			}
		}
		seen[ref] = true
		q.Records = append(q.Records, qos.Record{Time: record.TimeOf(h.Msg.Time), Leg: leg, Src: unmap(h.Msg.Src),
			Dst: unmap(h.Msg.Dst), Kind: qos.KindRTCPXR, VQ: vq})
	}
	return nil
}

// missing lists the SDP media whose received stream (towards its RTP or
// RTCP address) has no report.
func missing(media []qos.LegMedia, streams []qos.Stream) []Missing {
	var out []Missing
	for _, m := range media {
		covered := slices.ContainsFunc(streams, func(s qos.Stream) bool { return m.Matches(s.Dst) })
		if covered {
			continue
		}
		ms := Missing{Leg: m.Leg, To: m.RTP, Codec: m.Codec, ClockRate: m.ClockRate}
		for _, o := range media {
			if o.Leg == m.Leg && o.Type == m.Type && o.RTP != m.RTP {
				ms.From = o.RTP
				break
			}
		}
		out = append(out, ms)
	}
	return out
}

// Log is one log line of a call.
type Log struct {
	Time     time.Time
	Node     string
	CorrID   string
	Leg      string
	Src, Dst netip.AddrPort
	Text     string
}

// Logs returns the call's HEP type 100 log lines in capture time order.
func Logs(c *correlate.Call) []Log {
	var out []Log
	for i := range c.Messages {
		m := &c.Messages[i]
		if m.Msg.Type != 100 {
			continue
		}
		node := string(m.Msg.Node)
		if node == "" && m.Msg.CaptureID != 0 {
			node = fmt.Sprint(m.Msg.CaptureID)
		}
		out = append(out, Log{Time: record.TimeOf(m.Msg.Time), Node: node, CorrID: string(m.Msg.CorrID),
			Leg: c.Legs[m.Leg].CallID, Src: m.Msg.Src, Dst: m.Msg.Dst, Text: strings.TrimRight(string(m.Msg.Payload), "\r\n")})
	}
	slices.SortStableFunc(out, func(a, b Log) int { return a.Time.Compare(b.Time) })
	return out
}

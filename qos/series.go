package qos

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"time"
)

// Record is one quality report of a call, decoded, with where and when it was
// captured. Exactly one of RTCP, VQ, Short and Stat is set.
type Record struct {
	Time     time.Time
	Leg      string // Call-ID of the leg it belongs to
	Src, Dst netip.AddrPort
	Kind     Kind
	RTCP     *RTCP
	VQ       *VQReport
	Short    *ShortReport
	Stat     *CallStat
}

// LegMedia is an SDP media line of a leg.
type LegMedia struct {
	Leg string
	Media
}

// Point is one report on a stream. Figures the report does not give are nil.
type Point struct {
	Time         time.Time `json:"time"`
	Kind         Kind      `json:"source"`
	Packets      *int64    `json:"packets,omitempty"`       // sent (SR, headers) or received (headers, XR)
	Octets       *int64    `json:"octets,omitempty"`        // sent (SR) or received (headers)
	Lost         *int64    `json:"lost,omitempty"`          // cumulative
	FractionLost *float64  `json:"fraction_lost,omitempty"` // %, since the previous report
	JitterMS     *float64  `json:"jitter_ms,omitempty"`
	RTTMS        *float64  `json:"rtt_ms,omitempty"`
	MOS          *float64  `json:"mos,omitempty"`
	RFactor      *float64  `json:"r_factor,omitempty"`
	// MOSSource says where MOS comes from: "reported" or "e-model".
	MOSSource string `json:"mos_source,omitempty"`
}

// Summary sums up a stream's points.
type Summary struct {
	Reports         int      `json:"reports"`
	Packets         *int64   `json:"packets,omitempty"` // the last count
	Octets          *int64   `json:"octets,omitempty"`
	Lost            *int64   `json:"lost,omitempty"` // the last cumulative count
	MaxFractionLost *float64 `json:"max_fraction_lost,omitempty"`
	AvgJitterMS     *float64 `json:"avg_jitter_ms,omitempty"`
	MaxJitterMS     *float64 `json:"max_jitter_ms,omitempty"`
	AvgRTTMS        *float64 `json:"avg_rtt_ms,omitempty"`
	MaxRTTMS        *float64 `json:"max_rtt_ms,omitempty"`
	MinMOS          *float64 `json:"min_mos,omitempty"`
	AvgMOS          *float64 `json:"avg_mos,omitempty"`
}

// Stream is one direction of media of a call with its reports over time.
type Stream struct {
	Leg       string
	SSRC      uint32
	Src, Dst  netip.AddrPort // the RTCP (or, for headers, SIP) addresses the media flows between
	Codec     string
	ClockRate int
	Kinds     []Kind // the sources of its points
	Points    []Point
	Summary   Summary
}

// Media finds the SDP media line of a stream: the one whose RTCP or RTP
// address is the stream's destination (the receiver), else its source, on
// the stream's leg first.
func findMedia(media []LegMedia, leg string, src, dst netip.AddrPort) *LegMedia {
	for pass := 0; pass < 2; pass++ {
		for _, a := range []netip.AddrPort{dst, src} {
			for i := range media {
				m := &media[i]
				if (pass == 1 || m.Leg == leg) && m.Matches(a) {
					return m
				}
			}
		}
	}
	return nil
}

type streamKey struct {
	ssrc     uint32
	src, dst netip.AddrPort
}

// builder accumulates the points of every stream.
type builder struct {
	media   []LegMedia
	streams map[streamKey]*Stream
	order   []streamKey
	// last report block per stream, for loss deltas and the latest RTT
	prevBlock map[streamKey]ReportBlock
	lastRTT   map[streamKey]float64
	jbMS      map[streamKey]float64
	// srSeen: when each SR was captured, by sender SSRC and the middle 32
	// bits of its NTP time (what a report block echoes as LSR).
	srSeen map[[2]uint32]time.Time
}

func (b *builder) stream(leg string, ssrc uint32, src, dst netip.AddrPort) (*Stream, streamKey) {
	k := streamKey{ssrc, src, dst}
	if s, ok := b.streams[k]; ok {
		return s, k
	}
	s := &Stream{Leg: leg, SSRC: ssrc, Src: src, Dst: dst}
	if m := findMedia(b.media, leg, src, dst); m != nil {
		s.Codec, s.ClockRate = m.Codec, m.ClockRate
	}
	b.streams[k] = s
	b.order = append(b.order, k)
	return s, k
}

func (s *Stream) add(p Point) {
	if !slices.Contains(s.Kinds, p.Kind) {
		s.Kinds = append(s.Kinds, p.Kind)
	}
	s.Points = append(s.Points, p)
}

func ptr[T any](v T) *T { return &v }

// Build turns a call's quality records into streams (see the package doc for
// which stream each report goes to), with the codec of each from the call's
// SDP media. Records are taken in time order; streams come in the order of
// their first report.
func Build(recs []Record, media []LegMedia) []Stream {
	b := &builder{media: media, streams: map[streamKey]*Stream{}, prevBlock: map[streamKey]ReportBlock{},
		lastRTT: map[streamKey]float64{}, jbMS: map[streamKey]float64{}, srSeen: map[[2]uint32]time.Time{}}
	sorted := slices.Clone(recs)
	slices.SortStableFunc(sorted, func(x, y Record) int { return x.Time.Compare(y.Time) })
	for i := range sorted {
		r := &sorted[i]
		switch {
		case r.RTCP != nil:
			b.addRTCP(r)
		case r.VQ != nil:
			b.addVQ(r)
		case r.Short != nil:
			b.addShort(r)
		case r.Stat != nil:
			b.addStat(r)
		}
	}
	out := make([]Stream, 0, len(b.order))
	for _, k := range b.order {
		s := b.streams[k]
		s.Summary = summarize(s.Points)
		out = append(out, *s)
	}
	return out
}

func (b *builder) addRTCP(r *Record) {
	rt := r.RTCP
	if si := rt.Sender; si != nil {
		s, _ := b.stream(r.Leg, rt.SSRC, r.Src, r.Dst)
		s.add(Point{Time: r.Time, Kind: r.Kind, Packets: ptr(int64(si.Packets)), Octets: ptr(int64(si.Octets))})
		b.srSeen[[2]uint32{rt.SSRC, si.NTPSec<<16 | si.NTPFrac>>16}] = r.Time
	}
	for _, bl := range rt.Blocks {
		if bl.SSRC == 0 || bl.SSRC == rt.SSRC {
			continue // no received stream: an agent's placeholder or its own
		}
		s, k := b.stream(r.Leg, bl.SSRC, r.Dst, r.Src)
		p := Point{Time: r.Time, Kind: r.Kind, Lost: ptr(int64(bl.Lost))}
		frac := float64(bl.FractionLost) * 100 / 256
		if prev, ok := b.prevBlock[k]; ok && bl.FractionLost == 0 {
			if expected := int64(bl.HighestSeq) - int64(prev.HighestSeq); expected > 0 {
				if lost := int64(bl.Lost) - int64(prev.Lost); lost > 0 {
					frac = math.Min(100, 100*float64(lost)/float64(expected))
				}
			}
		}
		p.FractionLost = ptr(frac)
		b.prevBlock[k] = bl
		rate := s.ClockRate
		if rate <= 0 {
			rate = 8000
		}
		p.JitterMS = ptr(float64(bl.Jitter) * 1000 / float64(rate))
		at := r.Time
		if sent, ok := b.srSeen[[2]uint32{bl.SSRC, bl.LSR}]; ok && bl.LSR != 0 {
			// The SR echoed was captured too: the arrival time in the SR
			// sender's clock is LSR plus the capture time elapsed since it.
			at = NTPTime(bl.LSR).Add(r.Time.Sub(sent))
		}
		if rtt, ok := rttAt(at, bl.LSR, bl.DLSR); ok {
			p.RTTMS = ptr(rtt)
			b.lastRTT[k] = rtt
		}
		b.estimate(&p, s, k)
		s.add(p)
	}
	for _, x := range rt.XR {
		if x.SSRC == rt.SSRC && len(rt.Blocks) > 0 {
			continue
		}
		s, k := b.stream(r.Leg, x.SSRC, r.Dst, r.Src)
		p := Point{Time: r.Time, Kind: r.Kind, FractionLost: ptr(float64(x.LossRate) * 100 / 256)}
		if x.RoundTripDelay > 0 {
			p.RTTMS = ptr(float64(x.RoundTripDelay))
			b.lastRTT[k] = float64(x.RoundTripDelay)
		}
		if x.JBNominal > 0 {
			b.jbMS[k] = float64(x.JBNominal)
		}
		if x.MOSLQ >= 10 && x.MOSLQ <= 50 {
			p.MOS, p.MOSSource = ptr(float64(x.MOSLQ)/10), "reported"
		}
		if x.RFactor > 0 && x.RFactor <= 100 {
			p.RFactor = ptr(float64(x.RFactor))
		}
		b.estimate(&p, s, k)
		s.add(p)
	}
}

// estimate fills MOS and R from the E-model when the point has a loss figure
// and no reported MOS.
func (b *builder) estimate(p *Point, s *Stream, k streamKey) {
	if p.MOS != nil || p.FractionLost == nil {
		return
	}
	rtt, jb, jit := -1.0, b.jbMS[k], -1.0
	if v, ok := b.lastRTT[k]; ok {
		rtt = v
	}
	if p.RTTMS != nil {
		rtt = *p.RTTMS
	}
	if p.JitterMS != nil {
		jit = *p.JitterMS
	}
	r := RFactor(ImpairmentOf(s.Codec), *p.FractionLost, OneWayDelay(rtt, jb, jit))
	if p.RFactor == nil {
		p.RFactor = ptr(round2(r))
	}
	p.MOS, p.MOSSource = ptr(round2(MOSFromR(r))), "e-model"
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func (b *builder) addVQ(r *Record) {
	v := r.VQ
	local, remote := v.LocalAddr.AddrPort(), v.RemoteAddr.AddrPort()
	for _, side := range []struct {
		m        *VQMetrics
		ssrc     uint32
		src, dst netip.AddrPort
	}{{v.Local, v.RemoteAddr.SSRC, remote, local}, {v.Remote, v.LocalAddr.SSRC, local, remote}} {
		m := side.m
		if m == nil {
			continue
		}
		s, k := b.stream(r.Leg, side.ssrc, side.src, side.dst)
		if m.Codec != "" && s.Codec == "" {
			s.Codec, s.ClockRate = m.Codec, m.ClockRate
		}
		p := Point{Time: r.Time, Kind: r.Kind}
		if x, ok := m.Get("NLR"); ok {
			p.FractionLost = ptr(x)
		}
		if x, ok := m.Get("IAJ"); ok {
			p.JitterMS = ptr(x)
		} else if x, ok := m.Get("MAJ"); ok {
			p.JitterMS = ptr(x)
		}
		if x, ok := m.Get("RTD"); ok && x > 0 {
			p.RTTMS = ptr(x)
			b.lastRTT[k] = x
		}
		if x, ok := m.Get("JBN"); ok && x > 0 {
			b.jbMS[k] = x
		}
		if x, ok := m.Get("MOSLQ"); ok && x > 0 {
			p.MOS, p.MOSSource = ptr(x), "reported"
		}
		if x, ok := m.Get("RLQ"); ok && x > 0 {
			p.RFactor = ptr(x)
		}
		b.estimate(&p, s, k)
		s.add(p)
	}
}

func (b *builder) addShort(r *Record) {
	sr := r.Short
	s, k := b.stream(r.Leg, sr.SSRC, r.Src, r.Dst)
	p := Point{Time: r.Time, Kind: r.Kind}
	if sr.Packets >= 0 {
		p.Packets = ptr(sr.Packets)
	}
	if sr.Lost >= 0 {
		p.Lost = ptr(sr.Lost)
	}
	if sr.LossPercent >= 0 {
		p.FractionLost = ptr(sr.LossPercent)
	}
	if sr.JitterMS >= 0 {
		p.JitterMS = ptr(sr.JitterMS)
	}
	if sr.RTTMS > 0 {
		p.RTTMS = ptr(sr.RTTMS)
		b.lastRTT[k] = sr.RTTMS
	}
	if sr.MOS > 0 {
		p.MOS, p.MOSSource = ptr(sr.MOS), "reported"
	}
	if sr.RFactor > 0 {
		p.RFactor = ptr(sr.RFactor)
	}
	b.estimate(&p, s, k)
	s.add(p)
}

// addStat puts the header's received figures on the stream towards its
// sender, its sent figures on the stream from it.
func (b *builder) addStat(r *Record) {
	st := r.Stat
	if st.PacketsReceived >= 0 || st.PacketsLost >= 0 || st.JitterMS >= 0 || st.MOS > 0 {
		s, k := b.stream(r.Leg, 0, r.Dst, r.Src)
		if s.Codec == "" && st.Decoder != "" {
			s.Codec = st.Decoder
		}
		p := Point{Time: r.Time, Kind: r.Kind}
		if st.PacketsReceived >= 0 {
			p.Packets = ptr(st.PacketsReceived)
		}
		if st.OctetsReceived >= 0 {
			p.Octets = ptr(st.OctetsReceived)
		}
		if st.PacketsLost >= 0 {
			p.Lost = ptr(st.PacketsLost)
			if st.PacketsReceived >= 0 && st.PacketsReceived+st.PacketsLost > 0 {
				p.FractionLost = ptr(round2(100 * float64(st.PacketsLost) / float64(st.PacketsReceived+st.PacketsLost)))
			}
		}
		if st.JitterMS >= 0 {
			p.JitterMS = ptr(st.JitterMS)
		}
		if st.LatencyMS > 0 {
			b.jbMS[k] = st.LatencyMS
		}
		if st.MOS > 0 {
			p.MOS, p.MOSSource = ptr(st.MOS), "reported"
		}
		b.estimate(&p, s, k)
		s.add(p)
	}
	if st.PacketsSent >= 0 || st.OctetsSent >= 0 {
		s, _ := b.stream(r.Leg, 0, r.Src, r.Dst)
		if s.Codec == "" && st.Encoder != "" {
			s.Codec = st.Encoder
		}
		p := Point{Time: r.Time, Kind: r.Kind}
		if st.PacketsSent >= 0 {
			p.Packets = ptr(st.PacketsSent)
		}
		if st.OctetsSent >= 0 {
			p.Octets = ptr(st.OctetsSent)
		}
		s.add(p)
	}
}

// RTT is the round trip time in ms a report block gives when it arrives at
// capture time at (RFC 3550 6.4.1): A − LSR − DLSR in NTP short format (16.16
// seconds), A being at as NTP. ok is false when LSR is 0 (no SR received yet)
// or the result is negative or over a minute (clocks apart).
func RTT(at time.Time, lsr, dlsr uint32) (float64, bool) {
	return rttAt(at, lsr, dlsr)
}

func rttAt(at time.Time, lsr, dlsr uint32) (float64, bool) {
	if lsr == 0 {
		return 0, false
	}
	d := NTPShort(at) - lsr - dlsr
	if int32(d) < 0 || d > maxRTT*65536 {
		return 0, false
	}
	return float64(d) * 1000 / 65536, true
}

// NTPTime is a time whose NTP short form is v (the era and the high 16 bits
// of the seconds are arbitrary: only differences of NTP short times matter).
func NTPTime(v uint32) time.Time {
	return time.Unix(int64(v>>16)-ntpEpochOffset+1<<32, (int64(v&0xffff)*1e9+0xffff)>>16)
}

const (
	ntpEpochOffset = 2208988800 // 1900-01-01 to 1970-01-01, s
	maxRTT         = 60         // s; a longer round trip is a clock mismatch
)

// NTPShort is the middle 32 bits of t's 64-bit NTP timestamp.
func NTPShort(t time.Time) uint32 {
	sec := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint32(sec<<16 | frac>>16)
}

func summarize(ps []Point) Summary {
	s := Summary{Reports: len(ps)}
	var jit, rtt, mos stat
	for _, p := range ps {
		if p.Packets != nil {
			s.Packets = p.Packets
		}
		if p.Octets != nil {
			s.Octets = p.Octets
		}
		if p.Lost != nil {
			s.Lost = p.Lost
		}
		if p.FractionLost != nil && (s.MaxFractionLost == nil || *p.FractionLost > *s.MaxFractionLost) {
			s.MaxFractionLost = ptr(*p.FractionLost)
		}
		jit.add(p.JitterMS)
		rtt.add(p.RTTMS)
		mos.add(p.MOS)
	}
	s.AvgJitterMS, s.MaxJitterMS = jit.avg(), jit.maxp()
	s.AvgRTTMS, s.MaxRTTMS = rtt.avg(), rtt.maxp()
	s.AvgMOS, s.MinMOS = mos.avg(), mos.minp()
	return s
}

type stat struct {
	n             int
	sum, min, max float64
}

func (s *stat) add(v *float64) {
	if v == nil {
		return
	}
	if s.n == 0 || *v < s.min {
		s.min = *v
	}
	if s.n == 0 || *v > s.max {
		s.max = *v
	}
	s.n++
	s.sum += *v
}

func (s *stat) avg() *float64 {
	if s.n == 0 {
		return nil
	}
	return ptr(round2(s.sum / float64(s.n)))
}

func (s *stat) maxp() *float64 {
	if s.n == 0 {
		return nil
	}
	return ptr(s.max)
}

func (s *stat) minp() *float64 {
	if s.n == 0 {
		return nil
	}
	return ptr(s.min)
}

// SortStreams orders streams by leg order, then first report time.
func SortStreams(ss []Stream, legOrder map[string]int) {
	slices.SortStableFunc(ss, func(a, b Stream) int {
		return cmp.Compare(legOrder[a.Leg], legOrder[b.Leg])
	})
}

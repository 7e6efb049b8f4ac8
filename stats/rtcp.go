package stats

import (
	"traced/qos"
)

// RTCP quality distributions for /metrics: every reception report block (and
// XR VoIP metrics block) of the RTCP that traced stores as HEP type 5, binary
// or JSON, from live traffic since the start. They are not kept per hour or
// written: a restart resets them, as Prometheus expects of a process's
// counters, and the per-call figures are the QoS tab's, read from the archive.
//
// Simplifications: jitter is converted from RTP timestamp units at 8 kHz (the
// clock of G.711, G.729 and most narrowband audio; a stored packet does not say
// its codec), and the MOS of a block is the one an XR block gives (MOS-CQ),
// else the E-model's (qos.RFactor) for G.711 with PLC from the block's loss
// fraction and a one-way delay of twice its jitter (the jitter buffer).

// JitterBoundsMS, LossBounds and MOSBounds are the upper bounds of the
// buckets of the RTCP distributions; a last bucket takes what is above.
func JitterBoundsMS() []float64 { return []float64{1, 2, 5, 10, 20, 30, 50, 100, 200, 500} }

// LossBounds are fractions lost (0..1).
func LossBounds() []float64 { return []float64{0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5} }

// MOSBounds are MOS values (1..5).
func MOSBounds() []float64 { return []float64{2, 2.5, 3, 3.5, 3.8, 4, 4.2, 4.4} }

// Dist is a fixed-bucket distribution (Buckets[i] counts values ≤ Bounds[i],
// and above the previous bound; the last counts the rest).
type Dist struct {
	Bounds  []float64
	Buckets []int64
	Count   int64
	Sum     float64
}

func newDist(bounds []float64) Dist {
	return Dist{Bounds: bounds, Buckets: make([]int64, len(bounds)+1)}
}

func (d *Dist) observe(v float64) {
	i := 0
	for i < len(d.Bounds) && v > d.Bounds[i] {
		i++
	}
	d.Buckets[i]++
	d.Count++
	d.Sum += v
}

func (d Dist) clone() Dist {
	d.Buckets = append([]int64(nil), d.Buckets...)
	return d
}

// RTCPTotals are the RTCP distributions of live traffic since the start.
type RTCPTotals struct {
	Reports  int64 // RTCP packets decoded
	Jitter   Dist  // ms, by JitterBoundsMS
	Loss     Dist  // fraction lost, by LossBounds
	MOS      Dist  // by MOSBounds
	Undecode int64 // type 5 payloads that did not decode

	g711 qos.Impairment // the codec the MOS is computed for
}

func newRTCPTotals() RTCPTotals {
	return RTCPTotals{Jitter: newDist(JitterBoundsMS()), Loss: newDist(LossBounds()), MOS: newDist(MOSBounds()),
		g711: qos.ImpairmentOf("PCMU")}
}

func (t RTCPTotals) clone() RTCPTotals {
	t.Jitter, t.Loss, t.MOS = t.Jitter.clone(), t.Loss.clone(), t.MOS.clone()
	return t
}

// observeRTCP adds one HEP type 5 payload.
func (t *RTCPTotals) observeRTCP(payload []byte) {
	r, _, err := qos.DecodeRTCP(payload)
	if err != nil || r == nil {
		t.Undecode++
		return
	}
	t.Reports++
	for _, b := range r.Blocks {
		if b.SSRC == 0 || b.SSRC == r.SSRC {
			continue // describes no received stream
		}
		jitterMS := float64(b.Jitter) / 8
		loss := float64(b.FractionLost) / 256
		t.Jitter.observe(jitterMS)
		t.Loss.observe(loss)
		mos := qos.MOSFromR(qos.RFactor(t.g711, loss*100, qos.OneWayDelay(-1, -1, jitterMS)))
		for _, m := range r.XR { // XR blocks are few: no map per packet
			if m.SSRC == b.SSRC && m.MOSCQ >= 10 && m.MOSCQ <= 50 { // 127: unavailable
				mos = float64(m.MOSCQ) / 10
			}
		}
		t.MOS.observe(mos)
	}
}

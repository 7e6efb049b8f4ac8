package qos

import (
	"math"
	"strings"
)

// Impairment is a codec's equipment impairment factor and packet-loss
// robustness factor for the E-model.
type Impairment struct {
	Ie, Bpl float64
	Source  string // where the values come from
}

// ImpairmentOf returns the E-model factors of a codec by its SDP encoding
// name (any case). Sources and simplifications:
//
//   - G.711 (PCMU, PCMA): Ie 0, Bpl 25.1, ITU-T G.113 Appendix I, with packet
//     loss concealment (Bpl 4.3 without, see G711NoPLC).
//   - G.729 / G.729A: Ie 11, Bpl 19.0, G.113 Appendix I (G.729A + VAD).
//   - G.723.1: Ie 15, Bpl 16.1 (6.3 kbit/s), G.113 Appendix I.
//   - GSM-FR: Ie 20, G.113 Appendix I; its Bpl is not tabulated there: 10
//     is assumed here.
//   - iLBC: Ie 10, Bpl 32: not from G.113; an assumption in line with
//     published measurements of iLBC's concealment.
//   - G.722 and Opus are wideband: the wideband E-model (G.107.1) is not
//     implemented. They are rated on the narrowband scale as G.711 with PLC
//     (Ie 0, Bpl 25.1), so their MOS is comparable with narrowband calls and
//     tops out at 4.41 like G.711.
//   - Anything else: as G.711 with PLC.
func ImpairmentOf(codec string) Impairment {
	name := strings.ToUpper(codec)
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[:i]
	}
	switch name {
	case "PCMU", "PCMA", "G711", "G711U", "G711A", "G.711":
		return Impairment{0, 25.1, "G.113 App. I, G.711 with PLC"}
	case "G729", "G729A", "G729AB", "G.729", "G729B":
		return Impairment{11, 19, "G.113 App. I, G.729A+VAD"}
	case "G723", "G7231", "G.723.1":
		return Impairment{15, 16.1, "G.113 App. I, G.723.1 6.3 kbit/s"}
	case "GSM", "GSM-FR":
		return Impairment{20, 10, "G.113 App. I Ie; Bpl assumed"}
	case "ILBC":
		return Impairment{10, 32, "assumed"}
	case "G722", "G.722", "OPUS":
		return Impairment{0, 25.1, "wideband rated as G.711 with PLC"}
	}
	return Impairment{0, 25.1, "unknown codec rated as G.711 with PLC"}
}

// G711NoPLC is G.711 without packet loss concealment (G.113 Appendix I).
func G711NoPLC() Impairment { return Impairment{0, 4.3, "G.113 App. I, G.711 without PLC"} }

// RDefault is R with every E-model input at its G.107 default and no delay,
// codec or loss impairment: Ro − Is − Idte − Idle at the defaults.
const RDefault = 93.2

// RFactor computes the E-model rating R (ITU-T G.107) from a codec's factors,
// the packet loss in percent (random loss, BurstR = 1) and the absolute
// one-way delay Ta in ms:
//
//	R = 93.2 − Idd(Ta) − Ie,eff,  Ie,eff = Ie + (95 − Ie)·Ppl/(Ppl + Bpl)
//
// Simplifications: every input but the codec, loss and delay is at its G.107
// default (SLR, RLR, Nc, Ps, Pr, TELR 65 dB, ...), so Ro − Is is 93.2; the
// delay impairments of echo (Idte, Idle) are taken at their defaults, only
// the pure delay term Idd depends on Ta (T = Tr/2 = Ta: echo is assumed
// cancelled); the advantage factor A is 0; loss is random (BurstR 1).
func RFactor(imp Impairment, lossPercent, delayMS float64) float64 {
	ppl := math.Max(0, math.Min(100, lossPercent))
	ieEff := imp.Ie + (95-imp.Ie)*ppl/(ppl+imp.Bpl)
	return RDefault - Idd(delayMS) - ieEff
}

// Idd is the G.107 impairment of a pure one-way delay Ta (ms): 0 up to 100
// ms, then 25·((1+X⁶)^⅙ − 3(1+(X/3)⁶)^⅙ + 2) with X = log2(Ta/100).
func Idd(ta float64) float64 {
	if ta <= 100 {
		return 0
	}
	x := math.Log2(ta / 100)
	return 25 * (math.Pow(1+math.Pow(x, 6), 1.0/6) - 3*math.Pow(1+math.Pow(x/3, 6), 1.0/6) + 2)
}

// MOSFromR converts R to MOS (G.107 Annex B): 1 below 0, 4.5 above 100,
// else 1 + 0.035R + R(R−60)(100−R)·7·10⁻⁶.
func MOSFromR(r float64) float64 {
	switch {
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	return 1 + 0.035*r + r*(r-60)*(100-r)*7e-6
}

// OneWayDelay estimates the absolute one-way delay Ta in ms: half the round
// trip time plus the jitter buffer delay. The jitter buffer is the nominal
// delay a report gives (jbMS > 0), else twice the interarrival jitter. Either
// figure may be unknown (negative): it then counts as 0.
func OneWayDelay(rttMS, jbMS, jitterMS float64) float64 {
	d := 0.0
	if rttMS > 0 {
		d += rttMS / 2
	}
	switch {
	case jbMS > 0:
		d += jbMS
	case jitterMS > 0:
		d += 2 * jitterMS
	}
	return d
}

package qos

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// Worked examples of the E-model (G.107 with G.113 Appendix I factors).
func TestEModelWorkedExamples(t *testing.T) {
	cases := []struct {
		name                string
		imp                 Impairment
		loss, delay         float64
		wantR, wantMOS, tol float64
	}{
		// Defaults only: R = 93.2, MOS 4.41 (the best narrowband rating).
		{"G.711 no loss, low delay", ImpairmentOf("PCMU"), 0, 20, 93.2, 4.41, 0.01},
		// G.729A: Ie 11 → R = 82.2.
		{"G.729A no loss", ImpairmentOf("G729"), 0, 50, 82.2, 4.10, 0.01},
		// G.711 with PLC, 2 % random loss: Ie,eff = 95·2/(2+25.1) = 7.01, R 86.19,
		// MOS 1 + 0.035·86.19 + 86.19·26.19·13.81·7e-6 = 4.235.
		{"G.711 2% loss", ImpairmentOf("PCMA"), 2, 0, 93.2 - 95*2/27.1, 4.235, 0.01},
		// G.711 without PLC, 2 %: Ie,eff = 95·2/(2+4.3) = 30.16.
		{"G.711 no PLC 2% loss", G711NoPLC(), 2, 0, 93.2 - 95*2/6.3, 3.256, 0.01},
		// Ta 200 ms: X = 1, Idd = 25(2^⅙ − 3(1+3⁻⁶)^⅙ + 2) = 3.04.
		{"G.711 Ta 200 ms", ImpairmentOf("PCMU"), 0, 200, 93.2 - 3.044, 4.343, 0.01},
		// Ta 400 ms: X = 2, Idd = 25(65^⅙ − 3(1+(2/3)⁶)^⅙ + 2) = 24.07.
		{"G.711 Ta 400 ms", ImpairmentOf("PCMU"), 0, 400, 93.2 - 24.07, 3.56, 0.02},
	}
	for _, c := range cases {
		r := RFactor(c.imp, c.loss, c.delay)
		if !near(r, c.wantR, c.tol) {
			t.Errorf("%s: R = %.3f, want %.3f", c.name, r, c.wantR)
		}
		if m := MOSFromR(r); !near(m, c.wantMOS, 0.01) {
			t.Errorf("%s: MOS = %.3f, want %.2f", c.name, m, c.wantMOS)
		}
	}
	// Ie,eff at 2 % is 7.0 as published.
	if ie := 93.2 - RFactor(ImpairmentOf("PCMU"), 2, 0); !near(ie, 7.0, 0.02) {
		t.Errorf("Ie,eff = %.3f", ie)
	}
}

func TestMOSFromR(t *testing.T) {
	for _, c := range []struct{ r, mos float64 }{{-5, 1}, {0, 1}, {50, 2.575}, {93.2, 4.409}, {100, 4.5}, {120, 4.5}} {
		if m := MOSFromR(c.r); !near(m, c.mos, 0.001) {
			t.Errorf("MOS(%v) = %.4f, want %v", c.r, m, c.mos)
		}
	}
	if Idd(100) != 0 || Idd(50) != 0 || Idd(150) <= 0 {
		t.Error("Idd must be 0 up to 100 ms and positive above")
	}
}

func TestOneWayDelay(t *testing.T) {
	for _, c := range []struct{ rtt, jb, jit, want float64 }{
		{100, 40, 5, 90}, {100, -1, 5, 60}, {-1, -1, -1, 0}, {80, 0, 0, 40},
	} {
		if d := OneWayDelay(c.rtt, c.jb, c.jit); d != c.want {
			t.Errorf("OneWayDelay(%v,%v,%v) = %v, want %v", c.rtt, c.jb, c.jit, d, c.want)
		}
	}
}

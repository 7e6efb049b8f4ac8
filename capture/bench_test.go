package capture

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// BenchmarkReader reads a synthetic capture: SIP over UDP, RTP, RTCP and SIP
// over TCP in two segments per message.
func BenchmarkReader(b *testing.B) {
	var frames []frame
	at := t0
	msg := sipMsg("INVITE", "bench", string(bytes.Repeat([]byte("a=x\r\n"), 100)))
	rtp := append([]byte{0x80, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2}, make([]byte, 160)...)
	seq := uint32(1)
	for i := 0; i < 2000; i++ {
		at = at.Add(time.Millisecond)
		switch i % 4 {
		case 0:
			frames = append(frames, frame{at, ether(0x0800, udpIP(b, "192.0.2.1", "192.0.2.2", 5060, 5060, msg))})
		case 1:
			frames = append(frames, frame{at, ether(0x0800, udpIP(b, "192.0.2.1", "192.0.2.2", 4000, 4002, rtp))})
		case 2:
			frames = append(frames, frame{at, ether(0x0800, udpIP(b, "192.0.2.1", "192.0.2.2", 4001, 4003, rtcpRR(5)))})
		case 3:
			half := len(msg) / 2
			frames = append(frames, frame{at, ether(0x0800, tcpIP(b, "192.0.2.1", "192.0.2.2", 40000, 5060, seq, tcpFlags{}, msg[:half]))},
				frame{at, ether(0x0800, tcpIP(b, "192.0.2.1", "192.0.2.2", 40000, 5060, seq+uint32(half), tcpFlags{}, msg[half:]))})
			seq += uint32(len(msg))
		}
	}
	file := writePcap(b, layers.LinkTypeEthernet, frames...)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(file))
		if err != nil {
			b.Fatal(err)
		}
		ms, err := ReadAll(r)
		if err != nil || len(ms) != 1500 {
			b.Fatalf("%d messages, %v", len(ms), err)
		}
	}
}

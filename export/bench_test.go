package export

import (
	"fmt"
	"io"
	"testing"

	"traced/ingest/record"
)

// threeLegCall is a call through two proxies: A-leg over UDP, B-leg over TCP
// (with an INVITE and a 200 OK larger than an MSS) and C-leg over IPv6 UDP,
// each leg the seven messages of a call plus a re-INVITE and its 200 OK and
// ACK: 30 messages.
func threeLegCall(tb testing.TB) []*record.Message {
	var specs []spec
	legs := []struct {
		callID string
		proto  uint8
		a, b   string
		big    int
	}{
		{"leg-a@traced.test", protoUDP, "10.0.0.1:5060", "10.0.0.2:5060", 0},
		{"leg-b@traced.test", protoTCP, "10.0.0.2:40000", "10.0.0.3:5060", 3000},
		{"leg-c@traced.test", protoUDP, "[2001:db8::3]:5060", "[2001:db8::4]:5060", 0},
	}
	for i, l := range legs {
		d := dialog(l.callID, l.proto, l.a, l.b, int64(i)*1000, 10_000, l.big, l.big/2)
		re := dialog(l.callID, l.proto, l.a, l.b, int64(i)*1000+100_000, 10_000, 0, 0)
		specs = append(specs, d...)
		specs = append(specs, re[0], re[3], re[4]) // re-INVITE, 200 OK, ACK
	}
	msgs := storedAll(tb, specs)
	if len(msgs) != 30 {
		tb.Fatalf("%d messages, want 30", len(msgs))
	}
	return msgs
}

func BenchmarkWritePcap(b *testing.B) {
	msgs := threeLegCall(b)
	b.Run(fmt.Sprintf("3legs%dmsgs", len(msgs)), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := WritePcap(io.Discard, msgs, PcapOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkWriteText(b *testing.B) {
	msgs := threeLegCall(b)
	b.Run(fmt.Sprintf("3legs%dmsgs", len(msgs)), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := WriteText(io.Discard, msgs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

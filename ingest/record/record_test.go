package record

import (
	"net/netip"
	"testing"

	"traced/ingest/hep"
	"traced/segment"
)

func TestHeaderRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		h    Header
	}{
		{"hep_udp_v4", Header{Kind: KindHEP, Listener: ListenerUDP, Recv: 1_700_000_000_000_001,
			Agent: netip.MustParseAddrPort("192.0.2.1:5060")}},
		{"hep_tcp_v6", Header{Kind: KindHEP, Listener: ListenerTCP, Recv: 42,
			Agent: netip.MustParseAddrPort("[2001:db8::7]:40000")}},
		{"sip_with_addresses", Header{Kind: KindSIP, Listener: ListenerUDP, Recv: 7,
			Agent: netip.MustParseAddrPort("127.0.0.10:5060"), Proto: 6,
			Src: netip.MustParseAddrPort("127.0.0.20:5060"), Dst: netip.MustParseAddrPort("[::1]:5061")}},
		{"sip_no_agent", Header{Kind: KindSIP, Listener: ListenerUDP, Proto: 17}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := []byte("payload bytes")
			data := Append(nil, &c.h, payload)
			var got Header
			rest, err := Split(data, &got)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.h {
				t.Errorf("header %+v, want %+v", got, c.h)
			}
			if string(rest) != string(payload) {
				t.Errorf("payload %q", rest)
			}
		})
	}
}

func TestSplitRejectsCorrupt(t *testing.T) {
	good := Append(nil, &Header{Kind: KindSIP, Listener: ListenerUDP, Agent: netip.MustParseAddrPort("1.2.3.4:5"),
		Src: netip.MustParseAddrPort("1.2.3.4:5"), Dst: netip.MustParseAddrPort("1.2.3.5:6")}, nil)
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short", good[:5]},
		{"bad_kind", append([]byte{9}, good[1:]...)},
		{"bad_addr_len", append(append([]byte(nil), good[:10]...), 7, 1, 2)},
		{"cut_in_sip_meta", good[:len(good)-3]},
	} {
		t.Run(c.name, func(t *testing.T) {
			var h Header
			if _, err := Split(c.data, &h); err == nil {
				t.Errorf("no error for %x", c.data)
			}
		})
	}
}

func TestDecodeHEPMessage(t *testing.T) {
	p := hep.Packet{Version: 3, Family: 4, Proto: 6, Src: netip.MustParseAddrPort("10.0.0.1:5060"),
		Dst: netip.MustParseAddrPort("10.0.0.2:5060"), TsSec: 1_700_000_000, ProtoType: 1, CaptureID: 9,
		NodeName: []byte("sbc1"), CorrelationID: []byte("corr"),
		Payload: []byte("SIP/2.0 486 Busy Here\r\nCall-ID: abc\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\n\r\n")}
	raw := hep.AppendV3(nil, &p)
	data := Append(nil, &Header{Kind: KindHEP, Listener: ListenerTCP, Recv: 5}, raw)
	var m Message
	if err := Decode(segment.Record{Time: 99, Data: data}, &m); err != nil {
		t.Fatal(err)
	}
	if m.Time != 99 || m.Version != 3 || m.Type != 1 || m.Proto != 6 || m.CaptureID != 9 ||
		string(m.Node) != "sbc1" || string(m.CorrID) != "corr" {
		t.Errorf("message %+v", m)
	}
	if !m.IsSIP || m.SIP.StatusCode != 486 || string(m.SIP.CallID) != "abc" {
		t.Errorf("sip %+v", m.SIP)
	}
}

// FuzzSplit: run with go test ./ingest/record -run=^$ -fuzz=FuzzSplit -fuzztime=10m
func FuzzSplit(f *testing.F) {
	f.Add(Append(nil, &Header{Kind: KindHEP, Listener: ListenerUDP, Agent: netip.MustParseAddrPort("1.2.3.4:5")}, []byte("x")))
	f.Add(Append(nil, &Header{Kind: KindSIP, Listener: ListenerUDP, Src: netip.MustParseAddrPort("[::1]:5")}, []byte("SIP/2.0 200 OK\r\n\r\n")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Message
		_ = Decode(segment.Record{Time: 1, Data: data}, &m)
	})
}

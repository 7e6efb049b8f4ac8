package loadbench

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"traced/ingest/hep"
)

func TestSendTCPDeliversEveryFrame(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(c)
		c.Close()
		got <- b
	}()
	start := time.Now()
	res, err := Send(context.Background(), SendConfig{Addr: l.Addr().String(), Transport: "tcp",
		Rate: 5000, Duration: 100 * time.Millisecond, Pool: 50})
	if err != nil {
		t.Fatal(err)
	}
	b := <-got
	if res.Sent == 0 || res.Errors != 0 || !res.Drained || uint64(len(b)) != res.Bytes {
		t.Fatalf("sent %d packets (%d bytes), errors %d, drained %v; the peer read %d bytes", res.Sent, res.Bytes, res.Errors, res.Drained, len(b))
	}
	// The stream is back-to-back HEPv3 frames stamped with the time they were sent.
	var n uint64
	for len(b) > 0 {
		fl, err := hep.FrameLen(b)
		if err != nil {
			t.Fatalf("frame %d: %v", n, err)
		}
		var p hep.Packet
		if err := hep.Decode(b[:fl], &p); err != nil {
			t.Fatalf("frame %d: %v", n, err)
		}
		if ts := time.Unix(int64(p.TsSec), int64(p.TsUsec)*1000); ts.Before(start.Add(-time.Second)) || ts.After(time.Now()) {
			t.Fatalf("frame %d stamped %s, outside the run", n, ts)
		}
		b = b[fl:]
		n++
	}
	if n != res.Sent {
		t.Fatalf("read %d frames, sent %d", n, res.Sent)
	}
}

func TestSendUDP(t *testing.T) {
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	_ = u.SetReadBuffer(4 << 20)
	res, err := Send(context.Background(), SendConfig{Addr: u.LocalAddr().String(), Transport: "udp",
		Rate: 5000, Duration: 100 * time.Millisecond, Pool: 50, Conns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent == 0 || res.Errors != 0 || res.Conns != 2 {
		t.Fatalf("sent %d, errors %d (%v), conns %d", res.Sent, res.Errors, res.ErrorSamples, res.Conns)
	}
	buf := make([]byte, 65536)
	var n uint64
	_ = u.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		m, _, err := u.ReadFromUDP(buf)
		if err != nil {
			break
		}
		var p hep.Packet
		if err := hep.Decode(buf[:m], &p); err != nil {
			t.Fatalf("datagram %d: %v", n, err)
		}
		n++
	}
	if n == 0 || n > res.Sent {
		t.Fatalf("received %d datagrams of %d sent", n, res.Sent)
	}
}

func TestSendConfigChecked(t *testing.T) {
	for _, c := range []SendConfig{
		{Transport: "sctp", Duration: time.Second},
		{Transport: "udp"},
		{Transport: "udp", Duration: time.Second, Rate: -1},
	} {
		if _, err := Send(context.Background(), c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

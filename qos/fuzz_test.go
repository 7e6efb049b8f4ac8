package qos

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seeds adds the testdata fixtures whose names start with prefix.
func seeds(f *testing.F, prefix string) {
	files, _ := filepath.Glob("testdata/" + prefix + "*")
	for _, p := range files {
		if strings.HasSuffix(p, ".golden") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeRTCP(f *testing.F) {
	seeds(f, "rtcp-")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := DecodeRTCP(b)
		if err == nil && r == nil {
			t.Fatal("nil report without an error")
		}
		if err == nil {
			// A decoded report builds streams without panicking.
			Build([]Record{{Kind: KindRTCP, RTCP: r}}, nil)
		}
	})
}

func FuzzDecodeVQ(f *testing.F) {
	seeds(f, "vq-")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeVQ(b)
		if err == nil {
			if r.Type == "" {
				t.Fatal("a report without a type")
			}
			Build([]Record{{Kind: KindRTCPXR, VQ: r}}, nil)
		}
	})
}

func FuzzDecodeShort(f *testing.F) {
	seeds(f, "short-")
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeShort(b); err == nil {
			Build([]Record{{Kind: KindMOS, Short: r}}, nil)
		}
	})
}

func FuzzDecodeStatHeader(f *testing.F) {
	f.Add("X-RTP-Stat", "PS=207;OS=49680;;PR=314;OR=50240;PL=0;JI=600;LA=40;")
	f.Add("RTP-RxStat", "Total_Rx_Pkts=1492,Total_Rx_Bytes=238720,Total_Lost_Pkts=8,Jitter=14")
	f.Add("RTP-TxStat", "Dur=30,Pkt=1498,Oct=239680")
	f.Fuzz(func(t *testing.T, name, value string) {
		if s, err := DecodeStatHeader(name, value); err == nil {
			Build([]Record{{Kind: s.Kind, Stat: s}}, nil)
		}
	})
}

func FuzzParseSDP(f *testing.F) {
	f.Add([]byte("v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtcp:4005\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range ParseSDP(b) {
			if m.RTP.Port() == 0 {
				t.Fatalf("rejected media listed: %+v", m)
			}
		}
	})
}

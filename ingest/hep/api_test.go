package hep

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"
)

func TestReasonString(t *testing.T) {
	tests := []struct {
		name   string
		reason Reason
		want   string
	}{
		{"none", ReasonNone, "none"},
		{"truncated", ReasonTruncated, "truncated"},
		{"bad magic", ReasonBadMagic, "bad_magic"},
		{"unknown version", ReasonUnknownVersion, "unknown_version"},
		{"bad length", ReasonBadLength, "bad_length"},
		{"bad chunk", ReasonBadChunk, "bad_chunk"},
		{"no payload", ReasonNoPayload, "no_payload"},
		{"bad address", ReasonBadAddress, "bad_address"},
		{"bad compressed", ReasonBadCompressed, "bad_compressed"},
		{"other", ReasonOther, "other"},
		{"out of range", Reason(200), "reason_200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.reason.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReasons(t *testing.T) {
	rs := Reasons()
	if len(rs) != int(numReasons)-1 || slices.Contains(rs, ReasonNone) {
		t.Fatalf("Reasons() = %v", rs)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r.String()] {
			t.Errorf("duplicate label %q", r)
		}
		seen[r.String()] = true
	}
}

func TestReasonOf(t *testing.T) {
	var p Packet
	decodeErr := Decode([]byte("garbage"), &p)
	tests := []struct {
		name string
		err  error
		want Reason
	}{
		{"nil", nil, ReasonNone},
		{"decode error", decodeErr, ReasonBadMagic},
		{"wrapped", fmt.Errorf("udp 10.0.0.1:9060: %w", decodeErr), ReasonBadMagic},
		{"foreign", io.EOF, ReasonOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReasonOf(tc.err); got != tc.want {
				t.Errorf("ReasonOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"detail", &Error{Reason: ReasonBadChunk, Off: 93, Detail: "chunk length below 6"},
			"hep bad_chunk at offset 93: chunk length below 6"},
		{"cause", &Error{Reason: ReasonBadCompressed, Detail: "corrupt compressed payload", Err: io.ErrUnexpectedEOF},
			"hep bad_compressed at offset 0: corrupt compressed payload: unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			if tc.err.Err != nil && !errors.Is(tc.err, tc.err.Err) {
				t.Errorf("errors.Is does not reach the cause")
			}
		})
	}
}

func TestFrameLen(t *testing.T) {
	tests := []struct {
		name   string
		hdr    []byte
		want   int
		reason Reason
	}{
		{"HEP3", []byte("HEP3\x00\x71"), 113, ReasonNone},
		{"EEP3 with more bytes", []byte("EEP3\x01\x00rest"), 256, ReasonNone},
		{"largest", []byte("HEP3\xff\xff"), 65535, ReasonNone},
		{"smallest", []byte("HEP3\x00\x06"), 6, ReasonNone},
		{"below 6", []byte("HEP3\x00\x05"), 0, ReasonBadLength},
		{"short", []byte("HEP3\x00"), 0, ReasonTruncated},
		{"empty", nil, 0, ReasonTruncated},
		{"HEPv2 header", []byte{2, 16, 2, 17, 0x13, 0xc4}, 0, ReasonBadMagic},
		{"SIP", []byte("INVITE sip:"), 0, ReasonBadMagic},
		{"HEP1", []byte("HEP1\x00\x10"), 0, ReasonUnknownVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := FrameLen(tc.hdr)
			if n != tc.want || ReasonOf(err) != tc.reason {
				t.Errorf("FrameLen = %d, %v; want %d, %v", n, err, tc.want, tc.reason)
			}
		})
	}
}

func TestIndexMagic(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"at start", "HEP3\x00\x06", 0},
		{"EEP3 at start", "EEP3", 0},
		{"after garbage", "xxHEP3", 2},
		{"EEP3 after garbage", "\x00EEP3", 1},
		{"EP3 alone", "EP3EP3", -1},
		{"false start then match", "xEP3 HEP3", 5},
		{"double E", "HEEP3", 1},
		{"cut magic", "xxHEP", -1},
		{"none", "INVITE sip:bob SIP/2.0", -1},
		{"empty", "", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IndexMagic([]byte(tc.in)); got != tc.want {
				t.Errorf("IndexMagic(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestChunks(t *testing.T) {
	var p Packet
	if err := Decode(heplifyV3(), &p); err != nil {
		t.Fatal(err)
	}
	var types []uint16
	var vendorData string
	p.Chunks(func(vendor, typ uint16, data []byte) bool {
		types = append(types, typ)
		if vendor == 5 {
			vendorData = string(data)
		}
		return true
	})
	want := []uint16{1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 0x13, 0x17, 0x18, 0x20, 1}
	if !slices.Equal(types, want) {
		t.Errorf("chunk types = %x, want %x", types, want)
	}
	if vendorData != "homer-extra" {
		t.Errorf("vendor chunk data = %q", vendorData)
	}

	n := 0
	p.Chunks(func(vendor, typ uint16, data []byte) bool { n++; return n < 3 })
	if n != 3 {
		t.Errorf("iteration did not stop when fn returned false: %d calls", n)
	}

	if err := Decode(hepV2IPv4(), &p); err != nil {
		t.Fatal(err)
	}
	p.Chunks(func(vendor, typ uint16, data []byte) bool { t.Errorf("v2 packet has chunk %x", typ); return true })
}

func TestTime(t *testing.T) {
	tests := []struct {
		name      string
		sec, usec uint32
		want      string
	}{
		{"spec vector", 1313440459, 120000, "2011-08-15T20:34:19.12Z"},
		{"fixture time", testSec, testUsec, "2026-11-22T10:15:30.123456Z"},
		{"zero", 0, 0, "1970-01-01T00:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Packet{TsSec: tc.sec, TsUsec: tc.usec}
			if got := p.Time().Format(time.RFC3339Nano); got != tc.want {
				t.Errorf("Time() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestQuirkString(t *testing.T) {
	tests := []struct {
		name string
		q    Quirk
		want string
	}{
		{"none", 0, "none"},
		{"one", QuirkCaptureIDHigh, "capture_id_high"},
		{"several", QuirkEEP3 | QuirkSrcMissing | QuirkTimeBigEndian, "eep3|src_missing|time_big_endian"},
		{"unknown bit", QuirkHeaderLen | 1<<15, "header_len|unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.q.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
	if !(QuirkEEP3 | QuirkFamily).Has(QuirkFamily) || QuirkEEP3.Has(QuirkFamily) {
		t.Error("Has is wrong")
	}
}

// TestDecodeAllocs holds Decode to zero allocations on accepted packets.
func TestDecodeAllocs(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"v3 SIP", heplifyV3()},
		{"v3 compressed", asteriskV3()},
		{"v3 IPv4", specRev37()},
		{"v2", hepV2IPv4()},
		{"v1 IPv6", hepV1IPv6()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			allocs := testing.AllocsPerRun(100, func() {
				if err := Decode(tc.in, &p); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("Decode allocates %.1f times per packet", allocs)
			}
		})
	}
}

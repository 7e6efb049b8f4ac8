package hep

import (
	"bytes"
	"compress/zlib"
	"strings"
	"testing"
)

func zlibbed(s string) []byte {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestPayloadBytes(t *testing.T) {
	gz := gzipped(inviteSIP)
	exact := strings.Repeat("x", MaxInflated)
	tests := []struct {
		name       string
		payload    []byte
		compressed bool
		dst        []byte
		want       string // the whole returned slice
		reason     Reason
	}{
		{name: "plain", payload: []byte(shortSIP), want: shortSIP},
		{name: "plain ignores dst", payload: []byte("abc"), dst: []byte("prefix"), want: "abc"},
		{name: "gzip", payload: gz, compressed: true, want: inviteSIP},
		{name: "zlib", payload: zlibbed(inviteSIP), compressed: true, want: inviteSIP},
		{name: "appends to dst", payload: gz, compressed: true, dst: []byte("> "), want: "> " + inviteSIP},
		{name: "exactly MaxInflated", payload: gzipped(exact), compressed: true, want: exact},
		{name: "empty gzip stream", payload: gzipped(""), compressed: true, want: ""},
		{name: "one byte over MaxInflated", payload: gzipped(exact + "x"), compressed: true, reason: ReasonBadCompressed},
		{name: "inflation bomb", payload: gzipped(strings.Repeat("\x00", 1<<20)), compressed: true, reason: ReasonBadCompressed},
		{name: "neither gzip nor zlib", payload: []byte(shortSIP), compressed: true, reason: ReasonBadCompressed},
		{name: "empty", payload: []byte{}, compressed: true, reason: ReasonBadCompressed},
		{name: "gzip cut short", payload: gz[:len(gz)/2], compressed: true, reason: ReasonBadCompressed},
		{name: "gzip header only", payload: gz[:10], compressed: true, reason: ReasonBadCompressed},
		{name: "gzip bad checksum", payload: append(bytes.Clone(gz[:len(gz)-8]), 1, 2, 3, 4, 0, 0, 0, 0), compressed: true, reason: ReasonBadCompressed},
		{name: "zlib cut short", payload: zlibbed(inviteSIP)[:20], compressed: true, reason: ReasonBadCompressed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Packet{Payload: tc.payload, Compressed: tc.compressed}
			got, err := PayloadBytes(&p, tc.dst)
			if ReasonOf(err) != tc.reason {
				t.Fatalf("err = %v, want reason %v", err, tc.reason)
			}
			if tc.reason != ReasonNone {
				if !bytes.Equal(got, tc.dst) {
					t.Errorf("on error got %q, want dst %q unchanged", got, tc.dst)
				}
				return
			}
			if string(got) != tc.want {
				t.Errorf("got %d bytes %.40q, want %d bytes %.40q", len(got), got, len(tc.want), tc.want)
			}
		})
	}
}

// TestInflaterReuse inflates alternating formats and failures with one
// Inflater: a failure must not poison the next payload.
func TestInflaterReuse(t *testing.T) {
	var z Inflater
	steps := []struct {
		name    string
		payload []byte
		want    string // "" for a step that must fail
	}{
		{"gzip", gzipped("one"), "one"},
		{"zlib", zlibbed("two"), "two"},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0}, ""},
		{"gzip after failure", gzipped("three"), "three"},
		{"bad zlib", []byte{0x78, 0x9c, 0xff}, ""},
		{"zlib after failure", zlibbed("four"), "four"},
	}
	buf := make([]byte, 0, 64)
	for _, s := range steps {
		got, err := z.Payload(&Packet{Payload: s.payload, Compressed: true}, buf[:0])
		if s.want == "" {
			if ReasonOf(err) != ReasonBadCompressed {
				t.Fatalf("%s: err = %v, want bad_compressed", s.name, err)
			}
			continue
		}
		if err != nil || string(got) != s.want {
			t.Fatalf("%s: got %q, %v; want %q", s.name, got, err, s.want)
		}
	}
	got, err := z.Payload(&Packet{Payload: gzipped(inviteSIP), Compressed: true}, buf[:0])
	if err != nil || string(got) != inviteSIP {
		t.Fatalf("final inflate = %q, %v", got, err)
	}
}

package hep

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// within reports whether s, up to its capacity, lies inside b.
func within(b, s []byte) bool {
	if len(s) == 0 {
		return true
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= lo && p+uintptr(cap(s)) <= lo+uintptr(len(b))
}

// FuzzDecode checks Decode on arbitrary input: it never panics; a rejection
// is an *Error with a real reason; an accepted packet has consistent
// fields, every byte slice (up to its capacity) inside the input, and
// re-encodes (AppendV3, AppendV2 or AppendV1 by version) to a packet that
// decodes to the same fields. The seeds are every table input and every
// testdata/*.bin file. Explore with
//
//	go test ./ingest/hep -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	for _, tc := range allDecodeCases() {
		f.Add(tc.in)
	}
	bins, err := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if err != nil {
		f.Fatal(err)
	}
	for _, bin := range bins {
		b, err := os.ReadFile(bin)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		err := Decode(b, &p)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == ReasonNone || e.Reason >= ReasonOther {
				t.Fatalf("rejection %#v is not a proper *Error", err)
			}
			if e.Off < 0 || e.Off > len(b) {
				t.Fatalf("offset %d outside the %d-byte input", e.Off, len(b))
			}
			return
		}
		checkDecoded(t, b, &p)

		var enc []byte
		switch p.Version {
		case 1:
			enc = AppendV1(nil, &p)
		case 2:
			enc = AppendV2(nil, &p)
		default:
			enc = AppendV3(nil, &p)
			if len(enc) > MaxPacketLen {
				return // the normalised packet no longer fits in HEPv3
			}
		}
		var q Packet
		if err := Decode(enc, &q); err != nil {
			t.Fatalf("re-encoded packet rejected: %v\ninput %x\nenc   %x", err, b, enc)
		}
		if d := fieldsDiff(&p, &q); d != "" {
			t.Fatalf("re-encoded packet decodes differently:%s", d)
		}
	})
}

func checkDecoded(t *testing.T, b []byte, p *Packet) {
	t.Helper()
	fields := map[string][]byte{
		"Raw": p.Raw, "Payload": p.Payload, "AuthKey": p.AuthKey, "CorrelationID": p.CorrelationID,
		"NodeName": p.NodeName, "Geo": p.Geo, "TxType": p.TxType, "PayloadKeys": p.PayloadKeys,
		"Tags": p.Tags, "GroupID": p.GroupID,
	}
	for name, s := range fields {
		if !within(b, s) {
			t.Fatalf("%s (len %d cap %d) is not inside the input", name, len(s), cap(s))
		}
	}
	if len(p.Raw) != len(b) {
		t.Fatalf("Raw is %d bytes of %d", len(p.Raw), len(b))
	}
	if p.Version < 1 || p.Version > 3 {
		t.Fatalf("Version %d", p.Version)
	}
	switch p.Family {
	case 4:
		if !p.Src.Addr().Is4() || !p.Dst.Addr().Is4() {
			t.Fatalf("family 4 with %v -> %v", p.Src, p.Dst)
		}
	case 6:
		if !p.Src.Addr().Is6() || !p.Dst.Addr().Is6() {
			t.Fatalf("family 6 with %v -> %v", p.Src, p.Dst)
		}
	default:
		t.Fatalf("Family %d", p.Family)
	}
	if p.TimeOK && !plausible(p.TsSec, p.TsUsec) {
		t.Fatalf("TimeOK with implausible %d.%06d", p.TsSec, p.TsUsec)
	}
	if p.Compressed {
		if out, err := PayloadBytes(p, nil); err == nil && len(out) > MaxInflated {
			t.Fatalf("inflated %d bytes, over MaxInflated", len(out))
		}
	}
}

package sip

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unsafe"
)

// within reports whether s lies inside buf (nil always does).
func within(s, buf []byte) bool {
	if s == nil {
		return true
	}
	b := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= b && p+uintptr(len(s)) <= b+uintptr(len(buf))
}

// checkInvariants asserts what must hold after any Scan of msg into h.
func checkInvariants(t *testing.T, msg []byte, h *Headers, err error) {
	t.Helper()
	v := reflect.ValueOf(h).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.Slice {
			continue
		}
		s := v.Field(i).Bytes()
		switch {
		case within(s, msg):
		case f.Name == "ReferToReplaces" && within(s, h.buf[:]):
		case f.Name == "ReferToReplaces" && len(s) > len(h.buf):
			// Too long for the inline buffer: a fresh allocation.
		default:
			t.Fatalf("%s = %q lies outside the message", f.Name, s)
		}
	}
	if h.Complete && (err != nil || len(h.CallID) == 0 || h.Body == nil) {
		t.Fatalf("Complete with err %v, Call-ID %q, body nil %v", err, h.CallID, h.Body == nil)
	}
	if h.Request && h.StatusCode != 0 {
		t.Fatalf("both a request and status %d", h.StatusCode)
	}
	if h.StatusCode != 0 && (h.StatusCode < 100 || h.StatusCode > 699) {
		t.Fatalf("status code %d out of range", h.StatusCode)
	}
	if h.ContentLength < -1 {
		t.Fatalf("Content-Length %d", h.ContentLength)
	}
	if h.Request && len(h.Method) == 0 {
		t.Fatal("request without a method")
	}
	// Header and Scan agree: the first occurrence wins in both.
	if got := Header(msg, "Call-ID"); !bytes.Equal(got, h.CallID) {
		t.Fatalf("Header(Call-ID) = %q, Scan Call-ID = %q", got, h.CallID)
	}
	if got := Header(msg, "user-agent"); !bytes.Equal(got, h.UserAgent) {
		t.Fatalf("Header(User-Agent) = %q, Scan User-Agent = %q", got, h.UserAgent)
	}
	if got := Header(msg, "X-CID"); !bytes.Equal(got, h.XCID) {
		t.Fatalf("Header(X-CID) = %q, Scan X-CID = %q", got, h.XCID)
	}
	if !within(h.RURIUser, h.RURI) {
		t.Fatalf("RURIUser %q is not part of the Request-URI %q", h.RURIUser, h.RURI)
	}
	// A second scan into a used Headers gives the same result.
	var again Headers
	_ = Scan([]byte("SIP/2.0 200 OK\r\nCall-ID: x\r\nFrom: <sip:a@b>;tag=1\r\n\r\nbody"), &again)
	err2 := Scan(msg, &again)
	if err2 != err || !reflect.DeepEqual(fieldMap(&again), fieldMap(h)) {
		t.Fatalf("rescan differs: %v vs %v", err2, err)
	}
}

func fuzzSeeds(f *testing.F) {
	for _, tc := range allScanCases() {
		f.Add([]byte(tc.msg))
	}
	for _, tc := range headerCases {
		f.Add([]byte(tc.msg))
	}
	paths, err := filepath.Glob(filepath.Join("testdata", "*.sip"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		msg, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
}

// FuzzScan checks that Scan never panics and that every slice it returns lies in
// the message (or in the Headers' own buffer). Explore with:
//
//	go test ./ingest/sip -run '^$' -fuzz FuzzScan -fuzztime 60s
func FuzzScan(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		var h Headers
		err := Scan(msg, &h)
		checkInvariants(t, msg, &h, err)
		for _, name := range []string{"Via", "v", "Refer-To", "X-Siptrace-Fromip"} {
			if v := Header(msg, name); !within(v, msg) {
				t.Fatalf("Header(%s) lies outside the message", name)
			}
		}
	})
}

// FuzzUserOf checks that UserOf never panics and returns a part of its input.
// Explore with:
//
//	go test ./ingest/sip -run '^$' -fuzz FuzzUserOf -fuzztime 60s
func FuzzUserOf(f *testing.F) {
	for _, tc := range userOfCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if u := UserOf(in); !within(u, in) {
			t.Fatalf("UserOf(%q) = %q lies outside its input", in, u)
		}
	})
}

package sip

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// scanCase is one table entry: a message, the error Scan must return, and the
// fields (by Headers field name, in fieldMap's rendering) it must produce.
type scanCase struct {
	name string
	msg  string
	err  error
	want map[string]string
}

// reqLine is the start line of the messages built by m.
const reqLine = "INVITE sip:bob@example.com SIP/2.0"

// m joins lines with CRLF and ends the header section with an empty line.
func m(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

// fieldMap renders every exported field of h as a string: slices as their bytes,
// numbers in decimal, booleans as true/false.
func fieldMap(h *Headers) map[string]string {
	out := make(map[string]string)
	v := reflect.ValueOf(h).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.Slice:
			out[f.Name] = string(fv.Bytes())
		case reflect.Int:
			out[f.Name] = strconv.FormatInt(fv.Int(), 10)
		case reflect.Uint32:
			out[f.Name] = strconv.FormatUint(fv.Uint(), 10)
		case reflect.Bool:
			out[f.Name] = strconv.FormatBool(fv.Bool())
		default:
			panic("fieldMap: unhandled kind " + fv.Kind().String())
		}
	}
	return out
}

// checkFields compares the fields named in want.
func checkFields(t *testing.T, h *Headers, want map[string]string) {
	t.Helper()
	got := fieldMap(h)
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("Headers has no field %q", k)
		}
		if g != w {
			t.Errorf("%s = %q, want %q", k, g, w)
		}
	}
}

func runScanCases(t *testing.T, cases []scanCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte(tc.msg)
			var h Headers
			err := Scan(msg, &h)
			if err != tc.err {
				t.Fatalf("Scan error = %v, want %v", err, tc.err)
			}
			checkFields(t, &h, tc.want)
			checkInvariants(t, msg, &h, err)
		})
	}
}

// allScanCases gathers every Scan table, for the fuzz seed corpus.
func allScanCases() []scanCase {
	var all []scanCase
	for _, cs := range [][]scanCase{
		startLineCases, compactCases, foldingCases, bodyCases, cseqCases, firstWinsCases,
		fromToCases, contactCases, correlationCases,
	} {
		all = append(all, cs...)
	}
	return all
}

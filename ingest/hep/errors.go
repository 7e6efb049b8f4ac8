package hep

import (
	"errors"
	"strconv"
)

// Reason classifies why a packet was rejected. Its String form is stable
// and meant to be used as a metric label.
type Reason uint8

// The rejection reasons. ReasonNone is what ReasonOf returns for a nil
// error, ReasonOther for an error that is not an *Error.
const (
	ReasonNone           Reason = iota // no error
	ReasonTruncated                    // the packet ends inside a fixed header
	ReasonBadMagic                     // not HEP at all
	ReasonUnknownVersion               // "HEP"/"EEP" followed by something other than '3'
	ReasonBadLength                    // v3 length field differs from the datagram length, or is below 6
	ReasonBadChunk                     // chunk length below 6, past the end, or a fixed-size chunk of the wrong size
	ReasonNoPayload                    // no payload chunk (v3) or nothing after the header (v1/v2)
	ReasonBadAddress                   // no usable address, or families that contradict each other
	ReasonBadCompressed                // a compressed payload that does not inflate
	ReasonOther                        // an error from outside this package
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:           "none",
	ReasonTruncated:      "truncated",
	ReasonBadMagic:       "bad_magic",
	ReasonUnknownVersion: "unknown_version",
	ReasonBadLength:      "bad_length",
	ReasonBadChunk:       "bad_chunk",
	ReasonNoPayload:      "no_payload",
	ReasonBadAddress:     "bad_address",
	ReasonBadCompressed:  "bad_compressed",
	ReasonOther:          "other",
}

// String returns the stable snake_case name of r.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason_" + strconv.Itoa(int(r))
}

// Reasons returns every rejection reason (all but ReasonNone), in order, so
// a caller can pre-register one metric series per label.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := ReasonNone + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// Error is a rejected packet: why, where, and a short constant description.
type Error struct {
	Reason Reason
	Off    int    // byte offset in the packet where the problem was found (0 for inflate errors)
	Detail string // constant text, for logs
	Err    error  // underlying cause, if any (inflate errors)
}

func (e *Error) Error() string {
	s := "hep " + e.Reason.String() + " at offset " + strconv.Itoa(e.Off)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of err: ReasonNone for nil, the Reason of the
// first *Error in its chain, or ReasonOther.
func ReasonOf(err error) Reason {
	if err == nil {
		return ReasonNone
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonOther
}

func newError(r Reason, off int, detail string) *Error {
	return &Error{Reason: r, Off: off, Detail: detail}
}

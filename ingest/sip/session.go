package sip

// NullSessionID reports a Session-ID that identifies nothing: empty, or the
// null UUID of RFC 7989 (all zeros, with or without dashes). Such a value must
// never join two calls.
func NullSessionID(v []byte) bool {
	for _, b := range v {
		if b != '0' && b != '-' {
			return false
		}
	}
	return true
}

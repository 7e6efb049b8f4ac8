package httpui

import (
	"bytes"
	"strings"

	"traced/httpui/views"
)

// sdpNames names the SDP line types an admin reads (RFC 4566).
func sdpName(k byte) string {
	switch k {
	case 'v':
		return "version"
	case 'o':
		return "origin"
	case 's':
		return "session"
	case 'i':
		return "info"
	case 'c':
		return "connection"
	case 'b':
		return "bandwidth"
	case 't':
		return "timing"
	case 'm':
		return "media"
	case 'a':
		return "attribute"
	}
	return string(k)
}

// sdpLines lays out an SDP body as labelled lines; nil when body is not SDP.
func sdpLines(contentType, body []byte) []views.KV {
	if len(body) == 0 || !bytes.Contains(bytes.ToLower(contentType), []byte("application/sdp")) && !bytes.HasPrefix(body, []byte("v=0")) {
		return nil
	}
	var out []views.KV
	for _, line := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n") {
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		out = append(out, views.KV{Key: sdpName(line[0]), Value: line[2:]})
	}
	return out
}

// lineDiff compares two messages line by line (longest common subsequence); a
// message is short, so the quadratic table is small.
func lineDiff(a, b string) []views.DiffLine {
	al := strings.Split(strings.TrimRight(strings.ReplaceAll(a, "\r\n", "\n"), "\n"), "\n")
	bl := strings.Split(strings.TrimRight(strings.ReplaceAll(b, "\r\n", "\n"), "\n"), "\n")
	const most = 2000
	if len(al) > most || len(bl) > most {
		al, bl = al[:min(len(al), most)], bl[:min(len(bl), most)]
	}
	n, m := len(al), len(bl)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []views.DiffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case al[i] == bl[j]:
			out = append(out, views.DiffLine{Op: " ", Text: al[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, views.DiffLine{Op: "-", Text: al[i]})
			i++
		default:
			out = append(out, views.DiffLine{Op: "+", Text: bl[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, views.DiffLine{Op: "-", Text: al[i]})
	}
	for ; j < m; j++ {
		out = append(out, views.DiffLine{Op: "+", Text: bl[j]})
	}
	return out
}

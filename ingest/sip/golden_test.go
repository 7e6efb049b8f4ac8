package sip

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata golden files")

// goldenExtra are looked up with Header for each golden message.
var goldenExtra = []string{"Via", "Max-Forwards", "Event", "Authorization", "Referred-By", "X-RTP-Stat", "Subject"}

// golden is the JSON form of a scanned message.
type golden struct {
	Error           string            `json:"error"`
	Request         bool              `json:"request"`
	Method          string            `json:"method"`
	RURI            string            `json:"ruri"`
	RURIUser        string            `json:"ruri_user"`
	StatusCode      int               `json:"status_code"`
	Reason          string            `json:"reason"`
	CallID          string            `json:"call_id"`
	FromUser        string            `json:"from_user"`
	FromTag         string            `json:"from_tag"`
	FromDisplay     string            `json:"from_display"`
	ToUser          string            `json:"to_user"`
	ToTag           string            `json:"to_tag"`
	CSeq            uint32            `json:"cseq"`
	CSeqMethod      string            `json:"cseq_method"`
	UserAgent       string            `json:"user_agent"`
	Server          string            `json:"server"`
	ContactUser     string            `json:"contact_user"`
	SessionID       string            `json:"session_id"`
	XCID            string            `json:"x_cid"`
	Replaces        string            `json:"replaces"`
	ReferToReplaces string            `json:"refer_to_replaces"`
	ContentType     string            `json:"content_type"`
	PAIUser         string            `json:"pai_user"`
	ContentLength   int               `json:"content_length"`
	BodyLen         int               `json:"body_len"`
	Body            string            `json:"body"`
	Complete        bool              `json:"complete"`
	Headers         map[string]string `json:"headers,omitempty"`
}

func goldenOf(msg []byte, h *Headers, err error) golden {
	g := golden{
		Request: h.Request, Method: string(h.Method), RURI: string(h.RURI), RURIUser: string(h.RURIUser),
		StatusCode: h.StatusCode, Reason: string(h.Reason), CallID: string(h.CallID),
		FromUser: string(h.FromUser), FromTag: string(h.FromTag), FromDisplay: string(h.FromDisplay),
		ToUser: string(h.ToUser), ToTag: string(h.ToTag), CSeq: h.CSeq, CSeqMethod: string(h.CSeqMethod),
		UserAgent: string(h.UserAgent), Server: string(h.Server), ContactUser: string(h.ContactUser),
		SessionID: string(h.SessionID), XCID: string(h.XCID), Replaces: string(h.Replaces),
		ReferToReplaces: string(h.ReferToReplaces), ContentType: string(h.ContentType),
		PAIUser: string(h.PAIUser), ContentLength: h.ContentLength, BodyLen: len(h.Body),
		Body: string(h.Body), Complete: h.Complete,
	}
	if err != nil {
		g.Error = err.Error()
	}
	for _, name := range goldenExtra {
		if v := Header(msg, name); v != nil {
			if g.Headers == nil {
				g.Headers = make(map[string]string)
			}
			g.Headers[name] = string(v)
		}
	}
	return g
}

// TestGolden scans every testdata/*.sip and compares with its .golden.json.
// Regenerate with: go test ./ingest/sip -run Golden -update
func TestGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.sip"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 14 {
		t.Fatalf("found %d testdata messages, want at least 14", len(paths))
	}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".sip")
		t.Run(name, func(t *testing.T) {
			msg, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var h Headers
			scanErr := Scan(msg, &h)
			checkInvariants(t, msg, &h, scanErr)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(goldenOf(msg, &h, scanErr)); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			gp := strings.TrimSuffix(p, ".sip") + ".golden.json"
			if *update {
				if err := os.WriteFile(gp, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gp)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("scan of %s differs from %s (run with -update to accept):\n%s", p, gp, lineDiff(want, got))
			}
		})
	}
}

// TestTestdataIsRealistic guards the testdata messages themselves: CRLF line ends
// (except the LF-only sample) and a Content-Length that matches the body.
func TestTestdataIsRealistic(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.sip"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			msg, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			lfOnly := strings.Contains(p, "lf_only")
			hasCR := bytes.Contains(msg, []byte("\r\n"))
			if lfOnly && hasCR {
				t.Error("LF-only sample contains CRLF")
			}
			if !lfOnly && bytes.Count(msg, []byte("\n")) != bytes.Count(msg, []byte("\r\n")) {
				t.Error("sample has line ends other than CRLF")
			}
			var h Headers
			if err := Scan(msg, &h); err == nil && h.ContentLength != len(h.Body) {
				t.Errorf("Content-Length %d, body %d bytes", h.ContentLength, len(h.Body))
			}
		})
	}
}

// lineDiff shows the first differing lines of two texts.
func lineDiff(want, got []byte) string {
	wl := strings.Split(string(want), "\n")
	gl := strings.Split(string(got), "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(wl), len(gl)) && shown < 10; i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("- " + w + "\n+ " + g + "\n")
			shown++
		}
	}
	return b.String()
}

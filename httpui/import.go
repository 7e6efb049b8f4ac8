package httpui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// ImportResult is the answer of POST /api/v1/import: what became of the HEP
// packets of the request body.
type ImportResult struct {
	Packets  int            `json:"packets"`  // HEP packets read
	Stored   int            `json:"stored"`   // handed to the archive
	Ignored  int            `json:"ignored"`  // HEP type 0 (end of session): neither stored nor rejected
	Rejected map[string]int `json:"rejected"` // by reason, as in the status counters
}

// ImportFunc takes a stream of HEPv3 packets into the archive.
type ImportFunc func(r io.Reader) (ImportResult, error)

// ImportHandler serves POST /api/v1/import, for the control socket only: the
// request body is a stream of HEPv3 packets back to back (as HEP travels over
// TCP), each stored with its own capture time as if a HEP agent had sent it.
// The answer is the ImportResult; a body that cannot be read to its end gives
// 400 with the error and the counts so far.
func ImportHandler(imp ImportFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "import needs POST"})
			return
		}
		res, err := imp(r.Body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, struct {
				ImportResult
				Error string `json:"error"`
			}{res, err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// Import streams body, HEPv3 packets back to back, to the daemon's archive and
// returns what the daemon did with them. It has no overall time limit (a large
// capture takes as long as it takes); ctx ends it.
func (c *Client) Import(ctx context.Context, body io.Reader) (ImportResult, error) {
	var res ImportResult
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://traced/api/v1/import", body)
	if err != nil {
		return res, fmt.Errorf("import request: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	hc := *c.hc
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return res, fmt.Errorf("%w (socket %s: %v)", ErrNotRunning, c.Socket, ne.Err)
		}
		return res, fmt.Errorf("import over control socket %s: %w", c.Socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return res, fmt.Errorf("read import answer: %w", err)
	}
	var answer struct {
		ImportResult
		Error string `json:"error"`
	}
	jerr := json.Unmarshal(data, &answer)
	switch {
	case resp.StatusCode == http.StatusOK && jerr == nil:
		return answer.ImportResult, nil
	case jerr == nil && answer.Error != "":
		return answer.ImportResult, fmt.Errorf("import: %s", answer.Error)
	case resp.StatusCode == http.StatusNotFound:
		return res, fmt.Errorf("import: this traced does not accept imports (%s): upgrade it", resp.Status)
	}
	return res, fmt.Errorf("import: %s", resp.Status)
}

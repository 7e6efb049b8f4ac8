package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokensThroughTracectl: tracectl creates an API token through the control
// socket; the token opens the web port's API and /metrics, which refuse requests
// without it; once revoked it is refused.
func TestTokensThroughTracectl(t *testing.T) {
	binaries(t)
	d := startTraced(t, filepath.Join(t.TempDir(), "data"))
	secret := strings.TrimSpace(string(d.tracectl("token", "create", "grafana", "--role", "viewer")))
	if !strings.HasPrefix(secret, "trc_") {
		t.Fatalf("token %q", secret)
	}
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", d.webPort, path), nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/api/v1/status", "/api/v1/search?call_id=x", "/metrics"} {
		if code, _ := get(p, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", p, code)
		}
		if code, body := get(p, secret); code != http.StatusOK {
			t.Errorf("%s with the token: %d %s", p, code, body)
		}
	}
	if !strings.Contains(string(d.tracectl("token", "list")), "grafana") {
		t.Error("token list does not show the token")
	}
	d.tracectl("token", "revoke", "grafana")
	if code, _ := get("/api/v1/status", secret); code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", code)
	}
	if code, _ := get("/login", ""); code != http.StatusOK {
		t.Errorf("login page: %d", code)
	}
}

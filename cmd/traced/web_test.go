package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestWebOverTLS: with --web-tls-cert/--web-tls-key the pages and API are served
// over HTTPS only, and the session cookie is marked Secure.
func TestWebOverTLS(t *testing.T) {
	binaries(t)
	dir := t.TempDir()
	certPEM, keyPEM, pool := testCertificate(t)
	certFile, keyFile := filepath.Join(dir, "web.crt"), filepath.Join(dir, "web.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startTraced(t, filepath.Join(dir, "data"), "--web-tls-cert", certFile, "--web-tls-key", keyFile)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := fmt.Sprintf("https://127.0.0.1:%d", d.webPort)
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("https login page: %d", resp.StatusCode)
	}
	resp, err = c.PostForm(base+"/login", url.Values{"user": {"admin"}, "password": {"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var secure bool
	for _, ck := range resp.Cookies() {
		secure = secure || ck.Secure && ck.HttpOnly
	}
	if resp.StatusCode != http.StatusSeeOther || !secure {
		t.Errorf("login over https: %d, secure HttpOnly cookie %v", resp.StatusCode, secure)
	}
	if r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/login", d.webPort)); err == nil {
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			t.Error("plain http is served next to https")
		}
	}
}

// testCertificate makes a self-signed certificate for 127.0.0.1.
func testCertificate(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "traced"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pool
}

package ingest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"traced/ingest/record"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "traced test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestHEPOverTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	s, st := startServer(t, Config{TLSAddrs: []string{"127.0.0.1:0"},
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	addr := s.TLSAddrs()[0].String()

	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(append(hepPacket("tls-1@test", ""), hepPacket("tls-2@test", "")...))
	waitFor(t, "two frames over TLS", func() bool { return st.len() == 2 })
	var m record.Message
	if err := record.Decode(st.all()[0], &m); err != nil || m.Listener != record.ListenerTLS {
		t.Errorf("listener %v, err %v", m.Listener, err)
	}
	if got := s.Stats().Received["tls"]; got != 2 {
		t.Errorf("received over tls: %d", got)
	}

	// Plain TCP on the TLS port, and a client that offers only TLS 1.1, are refused
	// and counted; the TLS connection above keeps working.
	p, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(hepPacket("plain@test", ""))
	old, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
		t.Error("a TLS 1.1 client was accepted")
	}
	waitFor(t, "two failed handshakes", func() bool { return s.Stats().Rejected[ReasonTLSHandshake] == 2 })
	p.Close()
	c.Write(hepPacket("tls-3@test", ""))
	waitFor(t, "a third frame", func() bool { return st.len() == 3 })
}

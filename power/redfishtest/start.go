package redfishtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/node"
)

// TestBMC is a Server listening with TLS on 127.0.0.1 for one test.
type TestBMC struct {
	*Server
	URL          string
	Host         string
	Port         int
	PasswordFile string // holds the password + "\n", as an admin would write it
}

// Start serves a BMC over HTTPS on 127.0.0.1 until the test ends.
func Start(t testing.TB, o Options) *TestBMC {
	t.Helper()
	s := New(o)
	srv := httptest.NewTLSServer(s)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	pf := filepath.Join(t.TempDir(), "bmc.pass")
	if err := os.WriteFile(pf, []byte(s.o.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &TestBMC{Server: s, URL: srv.URL, Host: u.Hostname(), Port: port, PasswordFile: pf}
}

// Config is the node.BMC a driver or meter needs for this BMC (its
// certificate is self-signed, so insecure).
func (b *TestBMC) Config() node.BMC {
	return node.BMC{Protocol: "redfish", Address: b.Host, Port: b.Port, User: b.o.User,
		PasswordFile: b.PasswordFile, Insecure: true}
}

// SelfSignedTLS is a TLS configuration with a fresh self-signed certificate
// for 127.0.0.1, valid for a year: the lab's BMCs, like many real ones out
// of the box, present one (clients then run with insecure TLS).
func SelfSignedTLS(now time.Time) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "bmc lab Redfish BMC"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, nil
}

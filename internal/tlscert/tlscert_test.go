package tlscert_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/tlscert"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A server with the self-signed certificate is reached over HTTPS by a
// client that trusts ca.pem, under each name asked for.
func TestSelfSignedIsTrustedThroughItsAuthority(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	cert, err := tlscert.SelfSigned(dir, tlscert.Hosts("scfd.example"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = tlscert.ServerConfig(cert)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	pool, err := tlscert.Pool(filepath.Join(dir, tlscert.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "localhost", "scfd.example"} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name}}}
		res, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("as %s: %v", name, err)
		}
		res.Body.Close()
	}
	// Without the authority the certificate is not trusted.
	if _, err := http.Get(srv.URL); err == nil {
		t.Fatal("a client without ca.pem trusted the certificate")
	}
	for file, mode := range map[string]os.FileMode{tlscert.CAKey: 0o600, tlscert.KeyFile: 0o600, tlscert.CAFile: 0o644, tlscert.CertFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", file, fi.Mode().Perm(), mode)
		}
	}
}

// The files are kept across restarts; a new host or the end of the
// certificate's life issues a new one from the same authority.
func TestSelfSignedIsReused(t *testing.T) {
	dir := t.TempDir()
	hosts := []string{"localhost", "127.0.0.1"}
	if _, err := tlscert.SelfSigned(dir, hosts, now); err != nil {
		t.Fatal(err)
	}
	ca, first := read(t, filepath.Join(dir, tlscert.CAFile)), read(t, filepath.Join(dir, tlscert.CertFile))
	if _, err := tlscert.SelfSigned(dir, hosts, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(t, filepath.Join(dir, tlscert.CertFile)), first) {
		t.Fatal("a restart issued a new certificate")
	}
	cert, err := tlscert.SelfSigned(dir, append(hosts, "10.1.2.3"), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	second := read(t, filepath.Join(dir, tlscert.CertFile))
	if bytes.Equal(second, first) {
		t.Fatal("a new address kept the old certificate")
	}
	if err := cert.Leaf.VerifyHostname("10.1.2.3"); err != nil {
		t.Errorf("the new certificate: %v", err)
	}
	if _, err := tlscert.SelfSigned(dir, hosts, now.Add(tlscert.CertValidity-tlscert.Renew+2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(read(t, filepath.Join(dir, tlscert.CertFile)), second) {
		t.Fatal("a certificate near its end was kept")
	}
	if !bytes.Equal(read(t, filepath.Join(dir, tlscert.CAFile)), ca) {
		t.Fatal("the authority changed: clients would have to trust it again")
	}
}

package daemon_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/daemon/daemontest"
	"github.com/scfd/scfd/internal/tlscert"
)

// With SCFD_TLS_CERT and SCFD_TLS_KEY, the API, the gateway and the
// registry speak HTTPS with that certificate, and only HTTPS.
func TestTLSFromFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlscert.SelfSigned(dir, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	s := daemontest.Serve(t, map[string]string{
		"SCFD_TLS_CERT": filepath.Join(dir, tlscert.CertFile),
		"SCFD_TLS_KEY":  filepath.Join(dir, tlscert.KeyFile),
	})
	pool, err := tlscert.Pool(filepath.Join(dir, tlscert.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, tc := range []struct{ listener, path, want string }{
		{"SCF API", "/healthz/ready", "ready"},
		{"gateway", "/default/nothing/", "not found"},
		{"registry", "/v2/", "UNAUTHORIZED"},
	} {
		res, err := trusting.Get("https://" + s.Addrs[tc.listener] + tc.path)
		if err != nil {
			t.Fatalf("%s over HTTPS: %v", tc.listener, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("%s over HTTPS: %d %.200s", tc.listener, res.StatusCode, body)
		}
		res, err = http.Get("http://" + s.Addrs[tc.listener] + tc.path)
		if err != nil {
			t.Fatalf("%s over HTTP: %v", tc.listener, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s over plain HTTP: %d, want 400", tc.listener, res.StatusCode)
		}
	}
	untrusting := &http.Client{Transport: &http.Transport{}}
	if _, err := untrusting.Get("https://" + s.Addrs["SCF API"] + "/healthz/ready"); err == nil {
		t.Error("a client without the authority trusted the API")
	}

	// Replaced files are served to new connections without a restart.
	other := t.TempDir()
	if _, err := tlscert.SelfSigned(other, []string{"127.0.0.1", "renewed.example"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{tlscert.KeyFile, tlscert.CertFile} {
		b, err := os.ReadFile(filepath.Join(other, f))
		if err != nil {
			t.Fatal(err)
		}
		// Written aside and renamed, as a certificate manager does.
		tmp := filepath.Join(dir, f+".new")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := tls.Dial("tcp", s.Addrs["SCF API"], &tls.Config{InsecureSkipVerify: true}) // only the name is looked at
		if err != nil {
			t.Fatal(err)
		}
		names := c.ConnectionState().PeerCertificates[0].DNSNames
		c.Close()
		if slices.Contains(names, "renewed.example") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API still serves a certificate for %v 10 s after its files were replaced", names)
		}
		time.Sleep(100 * time.Millisecond) // polling for the next check of the files
	}
}

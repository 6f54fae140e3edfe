package tlscert_test

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/tlscert"
)

// install copies the server certificate and key of a SelfSigned dir to
// cert and key, stamped mod.
func install(t *testing.T, from, cert, key string, mod time.Time) {
	t.Helper()
	for src, dst := range map[string]string{tlscert.CertFile: cert, tlscert.KeyFile: key} {
		if err := os.WriteFile(dst, read(t, filepath.Join(from, src)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dst, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

// A replaced certificate is served to new connections once CheckInterval
// has passed, without a restart; a pair that does not load keeps the
// previous one in use.
func TestFilesAreReadAgainWhenTheyChange(t *testing.T) {
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	if _, err := tlscert.SelfSigned(one, []string{"one.example"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := tlscert.SelfSigned(two, []string{"two.example"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install(t, one, cert, key, now)
	clock := now
	f, err := tlscert.LoadFiles(cert, key, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		TLSConfig: f.ServerConfig(),
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	served := func() string { // the name in the certificate a new connection gets
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}) // only the name is looked at
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].DNSNames[0]
	}
	if got := served(); got != "one.example" {
		t.Fatalf("served %s, want one.example", got)
	}

	install(t, two, cert, key, now.Add(time.Minute))
	clock = clock.Add(tlscert.CheckInterval / 2)
	if got := served(); got != "one.example" {
		t.Errorf("served %s before the files were looked at again, want one.example", got)
	}
	clock = clock.Add(tlscert.CheckInterval)
	if got := served(); got != "two.example" {
		t.Errorf("served %s after the files changed, want two.example", got)
	}

	// A key that does not match: the previous certificate stays.
	install(t, one, cert, filepath.Join(dir, "unused.pem"), now.Add(2*time.Minute))
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(tlscert.CheckInterval)
	if got := served(); got != "two.example" {
		t.Errorf("served %s after a broken pair, want two.example still", got)
	}
	if f.Err() == nil {
		t.Error("Err is nil after a pair that does not load")
	}
	// Fixed: the new pair is served.
	install(t, one, cert, key, now.Add(3*time.Minute))
	clock = clock.Add(tlscert.CheckInterval)
	if got := served(); got != "one.example" {
		t.Errorf("served %s after the pair was fixed, want one.example", got)
	}
	if err := f.Err(); err != nil {
		t.Errorf("Err after a good pair: %v", err)
	}
}

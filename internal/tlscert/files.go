package tlscert

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// CheckInterval is how often Files looks at its files for a change.
const CheckInterval = time.Second

// Files serves the certificate of a pair of PEM files, read again when
// either file changes: an operator (or an ACME client) replaces them and
// new connections get the new certificate, without a restart. A pair
// that does not load (say, the certificate written and the key not yet)
// leaves the previous certificate in use until the next change. It is
// safe for concurrent use.
type Files struct {
	certFile, keyFile string
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]stamp // of certFile and keyFile when cert was loaded
	checked time.Time
	err     error // of the last load that failed; nil once one succeeds
}

// stamp is what tells a file changed.
type stamp struct {
	mod  time.Time
	size int64
}

// LoadFiles loads the certificate of certFile and keyFile. now is the
// clock deciding when the files are looked at again (nil: time.Now).
func LoadFiles(certFile, keyFile string, now func() time.Time) (*Files, error) {
	if now == nil {
		now = time.Now
	}
	f := &Files{certFile: certFile, keyFile: keyFile, now: now}
	st, err := f.stamps()
	if err != nil {
		return nil, err
	}
	if err := f.load(st); err != nil {
		return nil, err
	}
	f.checked = now()
	return f, nil
}

// ServerConfig is ServerConfig with f's certificate.
func (f *Files) ServerConfig() *tls.Config {
	c := ServerConfig(tls.Certificate{})
	c.Certificates = nil
	c.GetCertificate = f.GetCertificate
	return c
}

// GetCertificate returns the current certificate, first reading the
// files again when CheckInterval has passed since they were last looked
// at and they changed. Its signature is tls.Config.GetCertificate's.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.now(); now.Sub(f.checked) >= CheckInterval {
		f.checked = now
		if st, err := f.stamps(); err == nil && st != f.stamp {
			f.err = f.load(st)
		}
	}
	return f.cert, nil
}

// Err is the error of the last attempt to read the files again, nil when
// it succeeded (or none failed).
func (f *Files) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *Files) stamps() ([2]stamp, error) {
	var st [2]stamp
	for i, name := range []string{f.certFile, f.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return st, fmt.Errorf("tlscert: %w", err)
		}
		st[i] = stamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return st, nil
}

// load reads the pair; st is the files' stamps before they were read, so
// a change while reading is seen at the next check.
func (f *Files) load(st [2]stamp) error {
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	f.cert, f.stamp = &cert, st
	return nil
}

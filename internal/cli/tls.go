package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/tlscert"
)

// scheme is how the CLI reaches scfd's listeners when no endpoint names
// it: https when the environment turns TLS on as for `scfd serve`
// (SCFD_TLS=self-signed, or SCFD_TLS_CERT), else http.
func (a *app) scheme() string {
	if (a.getenv("SCFD_TLS") != "" && a.getenv("SCFD_TLS") != config.TLSOff) || a.getenv("SCFD_TLS_CERT") != "" {
		return "https"
	}
	return "http"
}

// caFile is the PEM file of the authorities the CLI trusts besides the
// system's: --ca-file (SCFD_CA_FILE), else the self-signed authority in
// the local server's data directory when there is one, else none.
func (a *app) caFile() string {
	if a.ca != "" {
		return a.ca
	}
	local := filepath.Join(config.TLSDir(or(a.dataDir, config.DefaultDataDir())), tlscert.CAFile)
	if _, err := os.Stat(local); err == nil {
		return local
	}
	return ""
}

// transport is the CLI's HTTP transport to scfd's API and registry: the
// default one, trusting caFile too.
func (a *app) transport() (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if f := a.caFile(); f != "" {
		pool, err := tlscert.Pool(f)
		if err != nil {
			return nil, errorf("name a PEM file of certificates with --ca-file (SCFD_CA_FILE)", "the authorities to trust: %w", err)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return t, nil
}

// tlsHint says what to do about a request to scfd that failed because
// the CLI and the server disagree on TLS, or "" for other errors.
func tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	switch msg := err.Error(); {
	case errors.As(err, &unknown):
		return fmt.Sprintf("trust the server's certificate authority with --ca-file (SCFD_CA_FILE); a server with SCFD_TLS=self-signed keeps it in its data dir as %s", filepath.Join("tls", tlscert.CAFile))
	case strings.Contains(msg, "Client sent an HTTP request to an HTTPS server"):
		return "the server speaks HTTPS: set SCFD_TLS as for `scfd serve`, or name an https:// endpoint (--endpoint, SCFD_ENDPOINT)"
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return "the server speaks plain HTTP: unset SCFD_TLS, or name an http:// endpoint (--endpoint, SCFD_ENDPOINT)"
	}
	return ""
}

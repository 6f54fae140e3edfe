package daemon

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/tlscert"
)

// openTLS loads the listeners' certificate, or generates a self-signed
// one for this machine's names and addresses, when TLS is on.
func (d *daemon) openTLS(ctx context.Context) error {
	c := d.c
	switch {
	case c.TLS.CertFile != "":
		files, err := tlscert.LoadFiles(c.TLS.CertFile, c.TLS.KeyFile, nil)
		if err != nil {
			return fmt.Errorf("SCFD_TLS_CERT/SCFD_TLS_KEY: %w", err)
		}
		d.tls = files.ServerConfig()
		fmt.Fprintf(d.announce, "scfd: HTTPS with the certificate %s (read again when it changes)\n", c.TLS.CertFile)
	case c.TLS.SelfSigned:
		var listenHosts []string
		for _, addr := range []string{c.APIAddr, c.GatewayAddr, c.RegistryAddr} {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				listenHosts = append(listenHosts, host)
			}
		}
		dir := config.TLSDir(c.DataDir)
		cert, err := tlscert.SelfSigned(dir, tlscert.Hosts(listenHosts...), time.Now())
		if err != nil {
			return fmt.Errorf("self-signed TLS certificate: %w", err)
		}
		d.tls = tlscert.ServerConfig(cert)
		fmt.Fprintf(d.announce, "scfd: HTTPS with a self-signed certificate; clients trust %s\n", filepath.Join(dir, tlscert.CAFile))
	}
	return nil
}

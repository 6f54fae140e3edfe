// Package tlscert gives scfd's listeners (the API, the gateway, the
// registry) their TLS certificate, and its clients the pool to verify it
// with.
//
// A certificate comes either from PEM files the operator provides
// (ServerConfig of a tls.LoadX509KeyPair), or from SelfSigned: a private
// certificate authority generated once into a directory (ca.pem, which
// clients trust, and ca-key.pem) and a server certificate it signs for
// this machine's names and addresses (cert.pem, key.pem). Both are kept
// across restarts; the server certificate is issued again, by the same
// authority, when it nears its end or no longer names every host asked
// for, so clients keep trusting ca.pem. The package imports only the
// standard library.
package tlscert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The files SelfSigned keeps in its directory.
const (
	CAFile   = "ca.pem"     // the authority's certificate: what clients trust
	CAKey    = "ca-key.pem" // the authority's private key, mode 0600
	CertFile = "cert.pem"   // the server's certificate
	KeyFile  = "key.pem"    // the server's private key, mode 0600
)

// Validity of what SelfSigned generates; a server certificate is issued
// again when it has less than Renew left.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	CertValidity = 365 * 24 * time.Hour
	Renew        = 30 * 24 * time.Hour
)

// ServerConfig is the TLS configuration of scfd's listeners with cert:
// TLS 1.2 or later and HTTP/1.1 (the listeners' drain closes connections
// per request, which HTTP/2 has no way to say).
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// SelfSigned makes sure dir holds an authority and a server certificate
// it signed, valid at now and naming every one of hosts (DNS names or IP
// addresses), creating what is missing, and returns the server's
// certificate. dir is created with mode 0700.
func SelfSigned(dir string, hosts []string, now time.Time) (tls.Certificate, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("tlscert: %w", err)
	}
	ca, caKey, err := authority(dir, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && covers(cert.Leaf, ca, hosts, now) {
		return cert, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlscert: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"scfd"}, CommonName: "scfd server"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(CertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlscert: signing the server certificate: %w", err)
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certPath, keyPath)
}

// authority loads dir's authority, creating it when there is none.
func authority(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKey)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok || !pair.Leaf.IsCA || now.After(pair.Leaf.NotAfter) {
			return nil, nil, fmt.Errorf("tlscert: %s is not a usable authority: remove %s and %s to generate another", certPath, CAFile, CAKey)
		}
		return pair.Leaf, key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("tlscert: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %w", err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"scfd"}, CommonName: "scfd CA " + host},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: creating the authority: %w", err)
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %w", err)
	}
	return ca, key, nil
}

// covers reports whether cert was signed by ca, is valid for Renew more
// after now, and names every host.
func covers(cert, ca *x509.Certificate, hosts []string, now time.Time) bool {
	if cert == nil || cert.CheckSignatureFrom(ca) != nil || now.Before(cert.NotBefore) || now.Add(Renew).After(cert.NotAfter) {
		return false
	}
	for _, h := range hosts {
		if h != "" && cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// writePair writes a certificate (mode 0644) and its key (mode 0600),
// each through a temporary file renamed into place.
func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tlscert: %w", err)
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// Hosts lists the names and addresses a self-signed certificate of this
// machine should name: localhost, the host name, every address of its
// network interfaces (link-local ones left out) and extra (listen hosts,
// other names), without duplicates.
func Hosts(extra ...string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, n.IP.String())
			}
		}
	}
	for _, h := range extra {
		if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
			continue
		}
		hosts = append(hosts, h)
	}
	out := hosts[:0]
	for _, h := range hosts {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// Pool returns the system's roots plus the certificates of the PEM file
// caFile: what a client of a server with a self-signed certificate
// verifies it with.
func Pool(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tlscert: %w", err)
	}
	if !pool.AppendCertsFromPEM(bytes.TrimSpace(data)) {
		return nil, fmt.Errorf("tlscert: %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

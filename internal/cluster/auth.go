package cluster

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Headers of a forwarded request. The internal listener removes them
// before the request is served.
const (
	// PeerHeader authenticates a request between replicas:
	// "<replica ID>;<Unix ms>;<hex HMAC-SHA256>" of the signed fields.
	PeerHeader = "X-Scfd-Peer"
	// KindHeader says what is forwarded: KindWeb or KindInvoke.
	KindHeader = "X-Scfd-Forward"
	// RemoteHeader carries a web request's client address (the
	// RemoteAddr the receiving gateway sees).
	RemoteHeader = "X-Scfd-Remote"
	// InvocationHeader carries an event invocation's request, without
	// its event (the body), as base64 of JSON.
	InvocationHeader = "X-Scfd-Invocation"
)

// What a forwarded request carries.
const (
	KindWeb    = "web"    // a request of the gateway
	KindInvoke = "invoke" // an event invocation
	KindAPI    = "api"    // an API request acting on the owner's pool
)

// MaxSkew bounds how far a forwarded request's timestamp may be from the
// receiver's clock.
const MaxSkew = 30 * time.Second

// MinSecretBytes is the shortest secret accepted.
const MinSecretBytes = 16

// SecretFile is the file in the data directory that keeps the secret
// when SCFD_CLUSTER_SECRET is not set.
const SecretFile = "cluster-secret"

// errUnauthenticated is a peer request without a valid signature.
var errUnauthenticated = errors.New("cluster: the request is not signed by a replica of this cluster")

// LoadSecret returns the replicas' shared secret: secret when not empty,
// else the content of dir/SecretFile, which is created (32 random bytes,
// hex, mode 0600) when missing. Replicas with data directories of their
// own must be given the same secret.
func LoadSecret(dir, secret string) ([]byte, error) {
	if secret == "" {
		path := filepath.Join(dir, SecretFile)
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			secret = strings.TrimSpace(string(b))
		case errors.Is(err, os.ErrNotExist):
			raw := make([]byte, 32)
			rand.Read(raw)
			secret = hex.EncodeToString(raw)
			if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("cluster: keeping the secret: %w", err)
			}
		default:
			return nil, fmt.Errorf("cluster: reading the secret: %w", err)
		}
	}
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("cluster: the secret must have at least %d characters", MinSecretBytes)
	}
	return []byte(secret), nil
}

// sign sets PeerHeader on r, an outbound request of replica from.
func sign(r *http.Request, secret []byte, from string, now time.Time) {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	r.Header.Set(PeerHeader, from+";"+ts+";"+mac(secret, from, ts, r))
}

// verify checks r's PeerHeader and returns the sending replica's ID.
func verify(r *http.Request, secret []byte, now time.Time) (string, error) {
	parts := strings.Split(r.Header.Get(PeerHeader), ";")
	if len(parts) != 3 {
		return "", errUnauthenticated
	}
	from, ts, sum := parts[0], parts[1], parts[2]
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", errUnauthenticated
	}
	if d := now.Sub(time.UnixMilli(ms)); d > MaxSkew || d < -MaxSkew {
		return "", fmt.Errorf("%w: its timestamp is %v from this replica's clock", errUnauthenticated, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(sum), []byte(mac(secret, from, ts, r))) {
		return "", errUnauthenticated
	}
	return from, nil
}

// mac is the hex HMAC-SHA256 of what a signature covers: the sender, the
// time, the kind, the method, the request URI and the client address.
func mac(secret []byte, from, ts string, r *http.Request) string {
	h := hmac.New(sha256.New, secret)
	for _, s := range []string{from, ts, r.Header.Get(KindHeader), r.Method, r.URL.RequestURI(), r.Header.Get(RemoteHeader), r.Header.Get(InvocationHeader)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

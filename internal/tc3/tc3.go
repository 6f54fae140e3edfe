// Package tc3 signs and verifies Tencent Cloud API 3.0 requests
// (TC3-HMAC-SHA256).
//
// Sign is what a client does before sending a request; Verify is what the
// SCF API endpoint does with every request it receives. Both build the same
// canonical request (method, URI, query, the signed headers, the SHA-256 of
// the body), the same string to sign and the same derived key, so a request
// signed by Sign, or by any official Tencent Cloud SDK, verifies. Errors of
// Verify carry the SCF error code the API must answer with (see Error).
// The package imports only the standard library.
package tc3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Algorithm is the only signature algorithm of API 3.0.
const Algorithm = "TC3-HMAC-SHA256"

// MaxSkew is how far a request's X-TC-Timestamp may be from the verifier's
// clock, either way.
const MaxSkew = 5 * time.Minute

// Credential is a key pair, with an optional session token.
type Credential struct {
	SecretID  string
	SecretKey string
	Token     string // sent as X-TC-Token when set
}

// Error is a verification failure; Code is the SCF error code to answer with.
type Error struct {
	Code string // e.g. "AuthFailure.SignatureFailure"
	Msg  string // client-safe detail
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Code
	}
	return e.Code + ": " + e.Msg
}

// Is matches any *Error with the same Code, so errors.Is(err,
// ErrSignatureExpire) works on errors carrying a specific message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The verification failures, one per SCF error code. Test with errors.Is.
var (
	ErrSignatureFailure = &Error{Code: "AuthFailure.SignatureFailure"}
	ErrSecretIDNotFound = &Error{Code: "AuthFailure.SecretIdNotFound"}
	ErrSignatureExpire  = &Error{Code: "AuthFailure.SignatureExpire"}
	// ErrInvalidAuthorization: the Authorization header is missing or not
	// of the TC3-HMAC-SHA256 shape.
	ErrInvalidAuthorization = &Error{Code: "AuthFailure.InvalidAuthorization"}
)

func failure(base *Error, format string, args ...any) error {
	return &Error{Code: base.Code, Msg: fmt.Sprintf(format, args...)}
}

// Code returns the SCF error code of a verification error, or "" when err
// is not one.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Sign signs r, whose body is body, with cred for service at now. It sets
// X-TC-Timestamp, Authorization and, when cred has a token, X-TC-Token; it
// keeps the other headers the caller set. It signs Content-Type and Host,
// and X-TC-Action when the caller set it. r.Host (or r.URL.Host) must be the
// host the request goes to, as the server will see it.
func Sign(r *http.Request, body []byte, cred Credential, service string, now time.Time) error {
	if cred.SecretID == "" || cred.SecretKey == "" {
		return errors.New("tc3: credential has no SecretID or SecretKey")
	}
	if service == "" {
		return errors.New("tc3: empty service name")
	}
	if r.Header.Get("Content-Type") == "" {
		return errors.New("tc3: request has no Content-Type")
	}
	ts := now.Unix()
	r.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	if cred.Token != "" {
		r.Header.Set("X-TC-Token", cred.Token)
	}
	signed := []string{"content-type", "host"}
	if r.Header.Get("X-TC-Action") != "" {
		signed = append(signed, "x-tc-action")
	}
	date := time.Unix(ts, 0).UTC().Format(time.DateOnly)
	canonical, err := canonicalRequest(r, hostForms(r)[0], signed, body)
	if err != nil {
		return err
	}
	sig := signature(cred.SecretKey, date, service, ts, canonical)
	r.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s/%s/%s/tc3_request, SignedHeaders=%s, Signature=%s",
		Algorithm, cred.SecretID, date, service, strings.Join(signed, ";"), sig))
	return nil
}

// Verified describes a request whose signature checked out.
type Verified struct {
	SecretID  string
	Service   string    // the service named in the credential scope
	Timestamp time.Time // X-TC-Timestamp
	Token     string    // X-TC-Token, if any; not checked here
	Signature string    // the signature, lower-case hexadecimal
}

// Header is a request whose headers checked out (see CheckHeader): its
// signature is still to be verified over the body.
type Header struct {
	auth authorization
	ts   int64
	key  string // the secret key of auth.secretID
}

// SecretID is the SecretId the request names.
func (h *Header) SecretID() string { return h.auth.secretID }

// CheckHeader checks what can be checked of r without reading its body,
// cheapest first: the Authorization header's shape, X-TC-Timestamp within
// MaxSkew of now, the credential scope's date being the timestamp's UTC
// date, and the SecretId being known to lookup. lookup returns the secret
// key of a SecretId; it should return an error matching
// ErrSecretIDNotFound (or any error wrapping it) for an unknown one, and
// any other error is returned as is. A request refused here need not have
// its body read at all.
func CheckHeader(r *http.Request, lookup func(secretID string) (secretKey string, err error), now time.Time) (*Header, error) {
	auth, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	tsHeader := r.Header.Get("X-TC-Timestamp")
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return nil, failure(ErrSignatureFailure, "X-TC-Timestamp %q is not a Unix time in seconds", tsHeader)
	}
	t := time.Unix(ts, 0)
	if d := now.Sub(t); d > MaxSkew || d < -MaxSkew {
		return nil, failure(ErrSignatureExpire, "the request timestamp %d is more than %v away from the server time %d", ts, MaxSkew, now.Unix())
	}
	if want := t.UTC().Format(time.DateOnly); auth.date != want {
		return nil, failure(ErrSignatureFailure, "the credential scope date %s is not the UTC date %s of X-TC-Timestamp", auth.date, want)
	}
	key, err := lookup(auth.secretID)
	if err != nil {
		if errors.Is(err, ErrSecretIDNotFound) {
			return nil, failure(ErrSecretIDNotFound, "SecretId %q not found", auth.secretID)
		}
		return nil, fmt.Errorf("tc3: looking up SecretId: %w", err)
	}
	return &Header{auth: auth, ts: ts, key: key}, nil
}

// Verify checks the signature of r, whose headers h describes, over
// body.
func (h *Header) Verify(r *http.Request, body []byte) (Verified, error) {
	got := h.auth.signature
	matched := false
	for _, host := range hostForms(r) {
		canonical, err := canonicalRequest(r, host, h.auth.signedHeaders, body)
		if err != nil {
			return Verified{}, err
		}
		want, _ := hex.DecodeString(signature(h.key, h.auth.date, h.auth.service, h.ts, canonical))
		if hmac.Equal(got, want) {
			matched = true
			break
		}
	}
	if !matched {
		return Verified{}, failure(ErrSignatureFailure, "the signature does not match")
	}
	return Verified{
		SecretID:  h.auth.secretID,
		Service:   h.auth.service,
		Timestamp: time.Unix(h.ts, 0),
		Token:     r.Header.Get("X-TC-Token"),
		Signature: hex.EncodeToString(got),
	}, nil
}

// Verify checks the TC3 signature of r, whose body is body: CheckHeader,
// then Header.Verify. The credential scope may name any service (the
// official SDKs take it from the endpoint's first label) but its date must
// be the UTC date of X-TC-Timestamp, which must be within MaxSkew of now.
func Verify(r *http.Request, body []byte, lookup func(secretID string) (secretKey string, err error), now time.Time) (Verified, error) {
	h, err := CheckHeader(r, lookup, now)
	if err != nil {
		return Verified{}, err
	}
	return h.Verify(r, body)
}

type authorization struct {
	secretID, date, service string
	signedHeaders           []string
	signature               []byte // a SHA-256 HMAC
}

// parseAuthorization parses
// "TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	if h == "" {
		return a, failure(ErrInvalidAuthorization, "the Authorization header is missing")
	}
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != Algorithm {
		return a, failure(ErrInvalidAuthorization, "the Authorization header must start with %s", Algorithm)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, failure(ErrInvalidAuthorization, "malformed Authorization header")
		}
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 4 || scope[0] == "" || scope[2] == "" || scope[3] != "tc3_request" {
		return a, failure(ErrInvalidAuthorization, "malformed Credential in the Authorization header: want SecretId/Date/Service/tc3_request")
	}
	if _, err := time.Parse(time.DateOnly, scope[1]); err != nil {
		return a, failure(ErrInvalidAuthorization, "malformed date %q in the credential scope", scope[1])
	}
	a.secretID, a.date, a.service = scope[0], scope[1], scope[2]
	if fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return a, failure(ErrInvalidAuthorization, "the Authorization header lacks SignedHeaders or Signature")
	}
	a.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	has := map[string]bool{}
	for _, name := range a.signedHeaders {
		if name == "" || name != strings.ToLower(name) {
			return a, failure(ErrInvalidAuthorization, "malformed SignedHeaders %q", fields["SignedHeaders"])
		}
		has[name] = true
	}
	if !has["content-type"] || !has["host"] {
		return a, failure(ErrInvalidAuthorization, "SignedHeaders must include content-type and host")
	}
	sig, err := hex.DecodeString(fields["Signature"])
	if err != nil || len(sig) != sha256.Size {
		return a, failure(ErrInvalidAuthorization, "the signature is not %d hexadecimal digits", 2*sha256.Size)
	}
	a.signature = sig
	return a, nil
}

// hostForms lists the values of the host header a client may have signed:
// the Host header as sent, and the same without its port, because the
// official Node.js SDK signs the URL's hostname while it sends host:port.
func hostForms(r *http.Request) []string {
	host := r.Host
	if host == "" && r.URL != nil {
		host = r.URL.Host
	}
	forms := []string{host}
	if h, _, err := net.SplitHostPort(host); err == nil && h != host {
		forms = append(forms, h)
	}
	return forms
}

// canonicalRequest builds the TC3 canonical request of r, with host as the
// value of the host header.
func canonicalRequest(r *http.Request, host string, signedHeaders []string, body []byte) (string, error) {
	names := append([]string(nil), signedHeaders...)
	sort.Strings(names)
	var headers strings.Builder
	for _, name := range names {
		var v string
		if name == "host" {
			v = host
		} else {
			v = r.Header.Get(name)
		}
		headers.WriteString(name)
		headers.WriteByte(':')
		headers.WriteString(strings.ToLower(strings.TrimSpace(v)))
		headers.WriteByte('\n')
	}
	uri := "/"
	query := ""
	if r.URL != nil {
		if p := r.URL.EscapedPath(); p != "" {
			uri = p
		}
		if r.Method != http.MethodPost {
			query = r.URL.RawQuery
		}
	}
	sum := sha256.Sum256(body)
	return strings.Join([]string{
		r.Method,
		uri,
		query,
		headers.String(),
		strings.Join(names, ";"),
		hex.EncodeToString(sum[:]),
	}, "\n"), nil
}

// signature derives the signing key and signs the string to sign.
func signature(secretKey, date, service string, ts int64, canonical string) string {
	hashed := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{
		Algorithm,
		strconv.FormatInt(ts, 10),
		date + "/" + service + "/tc3_request",
		hex.EncodeToString(hashed[:]),
	}, "\n")
	return hex.EncodeToString(hmacSHA256(signingKeys.get(secretKey, date, service), toSign))
}

// signingKeys keeps the keys derived from a secret key for a date and a
// service (three HMACs), which a client's requests of a day share.
var signingKeys = keyCache{m: map[keyScope][]byte{}}

// maxSigningKeys bounds the cache: past it, it starts afresh.
const maxSigningKeys = 4096

type keyScope struct{ secretKey, date, service string }

type keyCache struct {
	mu sync.Mutex
	m  map[keyScope][]byte
}

func (c *keyCache) get(secretKey, date, service string) []byte {
	s := keyScope{secretKey, date, service}
	c.mu.Lock()
	k, ok := c.m[s]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = hmacSHA256([]byte("TC3"+secretKey), date)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "tc3_request")
	c.mu.Lock()
	if len(c.m) >= maxSigningKeys {
		clear(c.m)
	}
	c.m[s] = k
	c.mu.Unlock()
	return k
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

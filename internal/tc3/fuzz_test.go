package tc3

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
	"time"
)

// FuzzVerify checks that no Authorization header, timestamp, host or body
// makes Verify panic or accept a request not signed with the key, and that
// a request signed with the key is accepted whatever its body and host.
func FuzzVerify(f *testing.F) {
	f.Add("TC3-HMAC-SHA256 Credential=AKIDx/2025-01-02/scf/tc3_request, SignedHeaders=content-type;host, Signature=00", "1735787045", "127.0.0.1:9100", []byte(`{}`))
	f.Add("TC3-HMAC-SHA256 Credential=/, SignedHeaders=;;, Signature=", "-1", "", []byte{})
	f.Add("TC3-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host;x-tc-action;X-TC-ACTION, Signature=zz", "99999999999999999999", "[::1]:80", []byte("\x00"))
	now := time.Unix(1735787045, 0)
	const id, key = "AKIDx", "secret"
	lookup := func(s string) (string, error) {
		if s != id {
			return "", ErrSecretIDNotFound
		}
		return key, nil
	}
	f.Fuzz(func(t *testing.T, auth, ts, host string, body []byte) {
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:9100/", bytes.NewReader(body))
		if err != nil {
			t.Skip()
		}
		r.Host = host
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-TC-Timestamp", ts)
		if _, err := Verify(r, body, lookup, now); err == nil {
			t.Fatalf("an unsigned request was accepted: Authorization %q", auth)
		} else if Code(err) == "" && !errors.Is(err, ErrSecretIDNotFound) {
			t.Fatalf("an error without a code: %v", err)
		}

		// The same request signed for real is accepted.
		r.Header.Del("Authorization")
		if err := Sign(r, body, Credential{SecretID: id, SecretKey: key}, "scf", now); err != nil {
			return
		}
		if _, err := Verify(r, body, lookup, now); err != nil {
			t.Fatalf("a signed request was refused (host %q): %v", host, err)
		}
		// And the body cannot change under the signature.
		if _, err := Verify(r, append(append([]byte{}, body...), 'x'), lookup, now); err == nil {
			t.Fatal("a changed body was accepted")
		}
	})
}

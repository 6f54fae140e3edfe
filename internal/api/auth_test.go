package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/tc3"
)

// countingBody is a request body of n bytes that counts what was read of it.
type countingBody struct {
	left, read int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > b.left {
		n = b.left
	}
	for i := range p[:n] {
		p[i] = ' '
	}
	b.left -= n
	b.read += n
	return int(n), nil
}

func (b *countingBody) Close() error { return nil }

// serveDirect runs one request through the API's handler and returns the
// error code of its answer ("" for success).
func serveDirect(t *testing.T, srv http.Handler, r *http.Request) (code, msg string) {
	t.Helper()
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	var envelope struct{ Response map[string]any }
	if err := json.Unmarshal(w.Body.Bytes(), &envelope); err != nil {
		t.Fatalf("answer %q: %v", w.Body.String(), err)
	}
	return errOf(envelope.Response)
}

// A request refused on its headers is refused before its body is read:
// a 10 MB body from someone without a key costs nothing.
func TestHeaderChecksReadNoBody(t *testing.T) {
	e := setup(t, false)
	const size = 10 << 20
	signed := func(cred tc3.Credential, at time.Time) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9100/", nil)
		r.Header.Set("Content-Type", "application/json")
		if err := tc3.Sign(r, []byte("{}"), cred, "127", at); err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-TC-Action", "GetAccount")
		r.Header.Set("X-TC-Version", api.Version)
		return r
	}
	for _, tc := range []struct {
		name     string
		req      func() *http.Request
		wantCode string
	}{
		{"no Authorization", func() *http.Request {
			r := signed(adminCred, now)
			r.Header.Del("Authorization")
			return r
		}, "AuthFailure.InvalidAuthorization"},
		{"malformed Authorization", func() *http.Request {
			r := signed(adminCred, now)
			r.Header.Set("Authorization", "Basic YWRtaW46YWRtaW4=")
			return r
		}, "AuthFailure.InvalidAuthorization"},
		{"unknown SecretId", func() *http.Request {
			return signed(tc3.Credential{SecretID: "AKIDnobody", SecretKey: "x"}, now)
		}, "AuthFailure.SecretIdNotFound"},
		{"stale timestamp", func() *http.Request { return signed(adminCred, now.Add(-time.Hour)) }, "AuthFailure.SignatureExpire"},
		{"timestamp from the future", func() *http.Request { return signed(adminCred, now.Add(time.Hour)) }, "AuthFailure.SignatureExpire"},
		{"declared body too large", func() *http.Request {
			r := signed(adminCred, now)
			r.ContentLength = api.MaxBodyBytes + 1
			return r
		}, "RequestSizeLimitExceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req()
			body := &countingBody{left: size}
			r.Body = body
			if r.ContentLength == 0 {
				r.ContentLength = size
			}
			code, msg := serveDirect(t, e.api, r)
			if code != tc.wantCode {
				t.Errorf("code = %q (%s), want %q", code, msg, tc.wantCode)
			}
			if body.read != 0 {
				t.Errorf("%d bytes of the body were read, want none", body.read)
			}
		})
	}

	// A known key with a bad signature has its body read (the signature
	// covers it), within MaxBodyBytes.
	r := signed(tc3.Credential{SecretID: adminCred.SecretID, SecretKey: "guess"}, now)
	body := &countingBody{left: 1 << 20}
	r.Body, r.ContentLength = body, 1<<20
	if code, _ := serveDirect(t, e.api, r); code != "AuthFailure.SignatureFailure" {
		t.Errorf("wrong key: code %q", code)
	}
	// A body longer than announced (or not announced) is cut at MaxBodyBytes.
	r = signed(adminCred, now)
	body = &countingBody{left: 64 << 20}
	r.Body, r.ContentLength = body, -1
	if code, _ := serveDirect(t, e.api, r); code != "RequestSizeLimitExceeded" {
		t.Errorf("endless body: code %q", code)
	}
	if body.read > api.MaxBodyBytes+64<<10 {
		t.Errorf("%d bytes of an endless body were read, want at most about %d", body.read, api.MaxBodyBytes)
	}
}

// The official SDKs do not sign X-TC-Action: a captured GetFunction is
// refused as a DeleteFunction of the same body, from another client at
// once, from the same one past tc3.ReplayGrace; the GetFunction itself may
// come again (a retry, a poll within the same second), and the client
// that signed it may use it for another action at once (the SDK's
// GetFunction then DeleteFunction of one body within a second).
func TestSignatureReplayedAsAnotherAction(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var mu sync.Mutex
	clock := now
	at := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	wait := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); clock = clock.Add(d) }
	srv := httptest.NewServer(api.New(api.Options{Store: st, Keys: api.KeyLookupFunc(keys), Now: at, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	admin := client.New(srv.URL, adminCred, client.WithClock(at))
	for _, fn := range []string{"victim", "mine"} {
		call(t, admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: fn, Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	}

	// from sends from a loopback address of its own, as another client.
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	sdk, attacker := from("127.0.0.1"), from("127.0.0.2")
	capture := func(body string) *http.Request {
		r, err := http.NewRequest(http.MethodPost, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		if err := tc3.Sign(r, []byte(body), adminCred, "127", at()); err != nil { // no X-TC-Action yet: not signed, as the SDKs do
			t.Fatal(err)
		}
		r.Header.Set("X-TC-Version", api.Version)
		return r
	}
	send := func(c *http.Client, captured *http.Request, body, action string) (string, string) {
		r := captured.Clone(captured.Context())
		r.Body = io.NopCloser(strings.NewReader(body))
		r.Header.Set("X-TC-Action", action)
		res, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var envelope struct{ Response map[string]any }
		if err := json.NewDecoder(res.Body).Decode(&envelope); err != nil {
			t.Fatal(err)
		}
		return errOf(envelope.Response)
	}

	body := `{"FunctionName":"victim"}`
	get := capture(body)
	for i := range 2 {
		if code, msg := send(sdk, get, body, "GetFunction"); code != "" {
			t.Fatalf("GetFunction #%d: %s %s", i+1, code, msg)
		}
	}
	code, msg := send(attacker, get, body, "DeleteFunction")
	if code != "AuthFailure.SignatureFailure" || !strings.Contains(msg, "already used for GetFunction") {
		t.Fatalf("replayed as DeleteFunction from elsewhere: %q %q, want AuthFailure.SignatureFailure naming GetFunction", code, msg)
	}
	// The same request again, from anywhere, is still good.
	if code, msg := send(attacker, get, body, "GetFunction"); code != "" {
		t.Fatalf("GetFunction again: %s %s", code, msg)
	}
	// From the client that signed it, past tc3.ReplayGrace, it is refused too.
	wait(tc3.ReplayGrace + time.Second)
	if code, _ := send(sdk, get, body, "DeleteFunction"); code != "AuthFailure.SignatureFailure" {
		t.Fatalf("replayed as DeleteFunction later: %q", code)
	}
	var got api.GetFunctionResponse
	call(t, admin, "GetFunction", api.GetFunctionRequest{FunctionName: "victim"}, &got)
	if got.FunctionName != "victim" {
		t.Fatalf("the function is gone: %+v", got)
	}

	// The SDK's own GetFunction then DeleteFunction of one body within a
	// second carry one signature: that goes.
	body = `{"FunctionName":"mine"}`
	mine := capture(body)
	if code, msg := send(sdk, mine, body, "GetFunction"); code != "" {
		t.Fatalf("GetFunction mine: %s %s", code, msg)
	}
	wait(500 * time.Millisecond)
	if code, msg := send(sdk, mine, body, "DeleteFunction"); code != "" {
		t.Fatalf("DeleteFunction mine at once: %s %s", code, msg)
	}
}

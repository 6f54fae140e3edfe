package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

	sdk, attacker := from("127.0.0.1"), from("127.0.0.2")
	capture := func(body string) *http.Request { return captureSigned(t, srv.URL, body, at()) }
	send := func(c *http.Client, captured *http.Request, body, action string) (string, string) {
		return sendCaptured(t, c, captured, body, action)
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

// from is a client that sends from a loopback address of its own, as
// another client.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// captureSigned is a request to url signed by the administrator at at,
// with no X-TC-Action yet: not signed, as the SDKs do.
func captureSigned(t *testing.T, url, body string, at time.Time) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	if err := tc3.Sign(r, []byte(body), adminCred, "127", at); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-TC-Version", api.Version)
	return r
}

// sendCaptured sends the captured request with c as action, to url when
// given (the host signed stays the captured one), and returns the error
// code and message of the answer.
func sendCaptured(t *testing.T, c *http.Client, captured *http.Request, body, action string, url ...string) (string, string) {
	t.Helper()
	r := captured.Clone(captured.Context())
	if len(url) > 0 {
		u, err := r.URL.Parse(url[0])
		if err != nil {
			t.Fatal(err)
		}
		r.URL, r.Host = u, captured.URL.Host
	}
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

// Two servers on one database (replicas) share the replay check through
// its record of signature uses: a request captured at one is refused at
// the other as another action, and served there as the same action; the
// signing client's own actions of one body within tc3.ReplayGrace may go
// to either.
func TestSignatureReplayedAtAnotherReplica(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var mu sync.Mutex
	clock := now
	at := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	wait := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); clock = clock.Add(d) }
	replica := func() *httptest.Server {
		srv := httptest.NewServer(api.New(api.Options{Store: st, Replays: st, Keys: api.KeyLookupFunc(keys), Now: at, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		t.Cleanup(srv.Close)
		return srv
	}
	a, b := replica(), replica()
	admin := client.New(a.URL, adminCred, client.WithClock(at))
	for _, fn := range []string{"victim", "mine"} {
		call(t, admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: fn, Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	}
	sdk, attacker := from("127.0.0.1"), from("127.0.0.2")

	body := `{"FunctionName":"victim"}`
	get := captureSigned(t, a.URL, body, at())
	if code, msg := sendCaptured(t, sdk, get, body, "GetFunction"); code != "" {
		t.Fatalf("GetFunction at a: %s %s", code, msg)
	}
	code, msg := sendCaptured(t, attacker, get, body, "DeleteFunction", b.URL)
	if code != "AuthFailure.SignatureFailure" || !strings.Contains(msg, "already used for GetFunction") {
		t.Fatalf("replayed at b as DeleteFunction: %q %q, want AuthFailure.SignatureFailure naming GetFunction", code, msg)
	}
	// The same action at b is a retry: good; and b now knowing the
	// signature does not make it good for another action there.
	if code, msg := sendCaptured(t, attacker, get, body, "GetFunction", b.URL); code != "" {
		t.Fatalf("GetFunction again at b: %s %s", code, msg)
	}
	wait(time.Second)
	if code, _ := sendCaptured(t, attacker, get, body, "DeleteFunction", b.URL); code != "AuthFailure.SignatureFailure" {
		t.Fatalf("replayed at b, which served it, as DeleteFunction: %q", code)
	}
	// Nor from the signing client past the grace of its first use at a.
	wait(tc3.ReplayGrace)
	if code, _ := sendCaptured(t, sdk, get, body, "DeleteFunction", b.URL); code != "AuthFailure.SignatureFailure" {
		t.Fatalf("replayed at b as DeleteFunction later: %q", code)
	}
	var got api.GetFunctionResponse
	call(t, admin, "GetFunction", api.GetFunctionRequest{FunctionName: "victim"}, &got)
	if got.FunctionName != "victim" {
		t.Fatalf("the function is gone: %+v", got)
	}

	// The SDK's GetFunction then DeleteFunction of one body within a
	// second, through a balancer sending each to another replica.
	body = `{"FunctionName":"mine"}`
	mine := captureSigned(t, a.URL, body, at())
	if code, msg := sendCaptured(t, sdk, mine, body, "GetFunction"); code != "" {
		t.Fatalf("GetFunction mine at a: %s %s", code, msg)
	}
	wait(500 * time.Millisecond)
	if code, msg := sendCaptured(t, sdk, mine, body, "DeleteFunction", b.URL); code != "" {
		t.Fatalf("DeleteFunction mine at b at once: %s %s", code, msg)
	}
}

// failingRecord is a shared replay record whose database is down.
type failingRecord struct{}

func (failingRecord) ClaimSignature(context.Context, []byte, string, string, time.Time, time.Time) ([]string, string, time.Time, error) {
	return nil, "", time.Time{}, errors.New("connection refused")
}

func (failingRecord) AddSignatureAction(context.Context, []byte, []string, string) (bool, error) {
	return false, errors.New("connection refused")
}

// A shared record that cannot be read refuses the request with an
// InternalError, and the cause is logged, not told.
func TestSharedReplayRecordDownFailsClosed(t *testing.T) {
	var logs bytes.Buffer
	e := setup(t, true, func(e *env, o *api.Options) {
		o.Replays = failingRecord{}
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	err := e.admin.Call(context.Background(), "CreateFunction", api.CreateFunctionRequest{FunctionName: "fn", Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "InternalError" || strings.Contains(apiErr.Message, "refused") {
		t.Fatalf("CreateFunction with the record down: %v, want an InternalError that tells nothing", err)
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("the cause was not logged: %q", logs.String())
	}
	if calls := e.deployer.take(); len(calls) != 0 {
		t.Errorf("the action ran: %v", calls)
	}
	if _, err := e.store.GetFunction(context.Background(), "default", "fn", "$LATEST"); err == nil {
		t.Errorf("the function was created")
	}
}

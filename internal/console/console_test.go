package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/console"
	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/store"
)

const (
	adminID, adminKey = "AKIDconsoleadmin0000000000000000", "consoleadminsecret00000000000000"
	teamID, teamKey   = "AKIDconsoleteam00000000000000000", "consoleteamsecret000000000000000"
	tempID, tempKey   = "AKIDconsoletemp00000000000000000", "consoletempsecret000000000000000"
)

func keys(id string) (string, api.Scope, error) {
	switch id {
	case adminID:
		return adminKey, api.Scope{Admin: true}, nil
	case teamID:
		return teamKey, api.Scope{Namespaces: []string{"team"}}, nil
	case tempID:
		return tempKey, api.Scope{Admin: true, Token: "tok"}, nil
	}
	return "", api.Scope{}, errdefs.NotFound("SecretId", "no such key")
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }
func quiet() *slog.Logger            { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type env struct {
	srv   *httptest.Server
	store *store.Store
	clock *clock
}

func setup(t *testing.T, with ...func(*console.Options)) *env {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := newClock()
	a := api.New(api.Options{Store: st, Keys: api.KeyLookupFunc(keys), Logger: quiet()})
	opts := console.Options{API: a, Keys: api.KeyLookupFunc(keys), Now: c.now, SessionTTL: time.Hour, Logger: quiet()}
	for _, w := range with {
		w(&opts)
	}
	con := console.New(opts)
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, con)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{srv: srv, store: st, clock: c}
}

// browser is a client with a cookie jar, as a browser signed in.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: e.srv.URL + console.Prefix, c: &http.Client{Jar: jar}}
}

func (b *browser) post(path, body string, header map[string]string) (int, map[string]any) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (b *browser) signIn(id, key string) (int, map[string]any) {
	b.t.Helper()
	status, out := b.post("login", `{"SecretId":"`+id+`","SecretKey":"`+key+`"}`, nil)
	if tok, ok := out["CSRFToken"].(string); ok {
		b.csrf = tok
	}
	return status, out
}

func (b *browser) action(action, body string) (int, map[string]any) {
	b.t.Helper()
	return b.post("api", `{"Action":"`+action+`","Body":`+body+`}`, map[string]string{console.CSRFHeader: b.csrf})
}

func errorCode(out map[string]any) string {
	if e, ok := out["Error"].(map[string]any); ok {
		return e["Code"].(string)
	}
	if r, ok := out["Response"].(map[string]any); ok {
		if e, ok := r["Error"].(map[string]any); ok {
			return e["Code"].(string)
		}
	}
	return ""
}

func (e *env) namespaceExists(t *testing.T, name string) bool {
	t.Helper()
	_, err := e.store.GetNamespace(context.Background(), name)
	return err == nil
}

func TestSignInGivesAnHttpOnlyStrictExpiringCookieAndNoSecret(t *testing.T) {
	e := setup(t)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/console/login", strings.NewReader(`{"SecretId":"`+adminID+`","SecretKey":"`+adminKey+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	ck := cookies[0]
	if ck.Name != console.CookieName || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge != 3600 || ck.Path != console.Prefix {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Max-Age 3600, Path %s", ck, console.Prefix)
	}
	if strings.Contains(string(body), adminKey) || strings.Contains(resp.Header.Get("Set-Cookie"), adminKey) {
		t.Errorf("the secret key was sent back: %s", body)
	}
}

func TestAWrongKeyCannotSignIn(t *testing.T) {
	e := setup(t)
	for name, tc := range map[string][2]string{
		"wrong secret":   {adminID, "nope"},
		"unknown id":     {"AKIDnobody", adminKey},
		"empty":          {"", ""},
		"temporary keys": {tempID, tempKey},
	} {
		b := e.browser(t)
		status, out := b.signIn(tc[0], tc[1])
		if status != http.StatusUnauthorized || b.csrf != "" {
			t.Errorf("%s: status %d, %v; want 401 and no token", name, status, out)
		}
		if status, out := b.action("ListNamespaces", `{}`); status != http.StatusUnauthorized {
			t.Errorf("%s: an action after the refused sign-in: %d %v, want 401", name, status, out)
		}
	}
}

func TestActionsRunWithTheKeysScope(t *testing.T) {
	e := setup(t)
	admin := e.browser(t)
	if status, out := admin.signIn(adminID, adminKey); status != http.StatusOK {
		t.Fatalf("sign-in: %d %v", status, out)
	}
	if status, out := admin.action("CreateNamespace", `{"Namespace":"team"}`); status != http.StatusOK || errorCode(out) != "" {
		t.Fatalf("CreateNamespace: %d %v", status, out)
	}
	if !e.namespaceExists(t, "team") {
		t.Fatal("the namespace was not created")
	}
	team := e.browser(t)
	if status, out := team.signIn(teamID, teamKey); status != http.StatusOK {
		t.Fatalf("team sign-in: %d %v", status, out)
	}
	if _, out := team.action("CreateNamespace", `{"Namespace":"other"}`); errorCode(out) != "UnauthorizedOperation.CAM" {
		t.Errorf("a team key creating a namespace: %v, want UnauthorizedOperation.CAM", out)
	}
	if _, out := team.action("NoSuchAction", `{}`); errorCode(out) != "InvalidAction" {
		t.Errorf("an unknown action: %v, want InvalidAction", out)
	}
	r := out(team.action("ListNamespaces", `{}`))["Response"].(map[string]any)
	if r["RequestId"] == "" {
		t.Errorf("no RequestId in %v", r)
	}
}

func out(_ int, m map[string]any) map[string]any { return m }

func TestARequestWithoutTheCSRFTokenChangesNothing(t *testing.T) {
	e := setup(t)
	b := e.browser(t)
	if status, out := b.signIn(adminID, adminKey); status != http.StatusOK {
		t.Fatalf("sign-in: %d %v", status, out)
	}
	body := `{"Action":"CreateNamespace","Body":{"Namespace":"evil"}}`
	for name, h := range map[string]map[string]string{
		"no token":     nil,
		"wrong token":  {console.CSRFHeader: "x" + b.csrf},
		"other origin": {console.CSRFHeader: b.csrf, "Origin": "http://evil.example"},
		"form post":    {console.CSRFHeader: b.csrf, "Content-Type": "text/plain"},
	} {
		status, out := b.post("api", body, h)
		if status != http.StatusForbidden && status != http.StatusUnsupportedMediaType {
			t.Errorf("%s: %d %v, want 403 or 415", name, status, out)
		}
	}
	if e.namespaceExists(t, "evil") {
		t.Error("a request without a valid CSRF token created a namespace")
	}
	// Signing out needs the token too.
	if status, _ := b.post("logout", `{}`, nil); status != http.StatusForbidden {
		t.Errorf("logout without the token: %d, want 403", status)
	}
	if status, _ := b.post("logout", `{}`, map[string]string{console.CSRFHeader: b.csrf}); status != http.StatusOK {
		t.Errorf("logout: %d", status)
	}
	if status, _ := b.action("ListNamespaces", `{}`); status != http.StatusUnauthorized {
		t.Errorf("an action after logout: %d, want 401", status)
	}
}

func TestASessionExpires(t *testing.T) {
	e := setup(t)
	b := e.browser(t)
	if status, out := b.signIn(adminID, adminKey); status != http.StatusOK {
		t.Fatalf("sign-in: %d %v", status, out)
	}
	e.clock.add(59 * time.Minute)
	if status, out := b.action("ListNamespaces", `{}`); status != http.StatusOK {
		t.Fatalf("within the hour: %d %v", status, out)
	}
	e.clock.add(time.Minute)
	if status, out := b.action("CreateNamespace", `{"Namespace":"late"}`); status != http.StatusUnauthorized || errorCode(out) != "AuthFailure.SessionExpired" {
		t.Errorf("after an hour: %d %v, want 401 AuthFailure.SessionExpired", status, out)
	}
	if e.namespaceExists(t, "late") {
		t.Error("an expired session created a namespace")
	}
	resp, err := b.c.Get(b.base + "session")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET session after expiry: %d, want 401", resp.StatusCode)
	}
}

func TestThePageAndItsAssetsAreEmbedded(t *testing.T) {
	e := setup(t)
	for path, want := range map[string]string{
		"/console/":                         "<title>scfd console</title>",
		"/console/app.js":                   "GetFunctionMetrics",
		"/console/vendor/uPlot.iife.min.js": "uPlot",
		"/console/vendor/uPlot.LICENSE":     "MIT",
		"/console/vendor/uPlot.min.css":     ".uplot",
	} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, body without %q", path, resp.StatusCode, want)
		}
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: no CSP or framing protection", path)
		}
	}
}

// fromAddr is a browser whose connections come from the loopback address
// ip, as another client.
func (e *env) fromAddr(t *testing.T, ip string) *browser {
	b := e.browser(t)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	b.c.Transport = &http.Transport{DialContext: d.DialContext}
	return b
}

func TestFailedSignInsAreLimitedPerAddress(t *testing.T) {
	e := setup(t)
	b := e.browser(t)
	for i := range console.SignInBurst {
		if status, _ := b.signIn(fmt.Sprintf("AKIDguess%d", i), "guess"); status != http.StatusUnauthorized {
			t.Fatalf("failed sign-in %d: %d", i+1, status)
		}
	}
	// Over the limit, even the right key is refused from this address.
	status, out := b.signIn(adminID, adminKey)
	if status != http.StatusTooManyRequests || errorCode(out) != "RequestLimitExceeded" {
		t.Fatalf("over the limit: %d %v", status, out)
	}
	if msg := out["Error"].(map[string]any)["Message"].(string); !strings.Contains(msg, "from this address: try again in 6 s") {
		t.Errorf("message %q", msg)
	}
	// Another address is not held back.
	if status, out := e.fromAddr(t, "127.0.0.2").signIn(adminID, adminKey); status != http.StatusOK {
		t.Fatalf("another address: %d %v", status, out)
	}
	// One more attempt every SignInEvery.
	e.clock.add(console.SignInEvery)
	if status, _ := b.signIn(adminID, adminKey); status != http.StatusOK {
		t.Fatalf("after %v: %d", console.SignInEvery, status)
	}
	// A sign-in that succeeds costs nothing.
	for range 3 {
		if status, _ := b.signIn(adminID, adminKey); status != http.StatusOK {
			t.Fatalf("signing in again: %d", status)
		}
	}
	if status, _ := b.signIn(adminID, "guess"); status != http.StatusUnauthorized {
		t.Fatalf("one failure more: %d", status)
	}
	if status, _ := b.signIn(adminID, adminKey); status != http.StatusTooManyRequests {
		t.Fatalf("over the limit again: %d", status)
	}
}

func TestFailedSignInsAreLimitedPerKey(t *testing.T) {
	e := setup(t)
	// Guesses of one key from many addresses.
	for i := range console.SignInBurst / 2 {
		b := e.fromAddr(t, fmt.Sprintf("127.0.1.%d", i+1))
		if status, _ := b.signIn(teamID, "guess"); status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i+1, status)
		}
	}
	b := e.fromAddr(t, "127.0.2.1")
	status, out := b.signIn(teamID, teamKey)
	if status != http.StatusTooManyRequests || !strings.Contains(out["Error"].(map[string]any)["Message"].(string), "for this SecretId") {
		t.Fatalf("over the key's limit: %d %v", status, out)
	}
	// Other keys sign in from there.
	if status, _ := b.signIn(adminID, adminKey); status != http.StatusOK {
		t.Fatalf("another key: %d", status)
	}
	e.clock.add(console.SignInKeyEvery)
	if status, _ := b.signIn(teamID, teamKey); status != http.StatusOK {
		t.Fatalf("after %v: %d", console.SignInKeyEvery, status)
	}
}

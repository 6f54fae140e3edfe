// Package console is scfd's web console, served under /console/ on the API
// listener: a page (embedded in the binary, no build step) that lists
// namespaces and functions, edits them, tests them, reads their logs and
// plots their metrics. It creates namespaces and functions from the
// embedded registry's images, and sends web functions test requests
// through the gateway (POST /console/web).
//
// The browser signs in with an API key pair and gets a session cookie
// (HttpOnly, SameSite=Strict, expiring); the secret key never goes back
// to it. Every action then goes through POST /console/api as
// {"Action", "Body"} with the session cookie and the session's CSRF token
// in the X-CSRF-Token header, and runs through the same API handlers as
// the SDK's signed requests, with the key's scope, answering with the same
// {"Response": ...} envelope. Sessions live in memory: a restart signs
// everyone out.
package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/scfd/scfd/internal/api"
)

//go:embed assets
var assets embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console/"

// CookieName is the session cookie's name.
const CookieName = "scfd_console"

// CSRFHeader carries the session's CSRF token on every POST but sign-in.
const CSRFHeader = "X-CSRF-Token"

// DefaultSessionTTL is how long a session lasts when Options.SessionTTL
// is zero.
const DefaultSessionTTL = 8 * time.Hour

// maxBody bounds a console request: an action's body plus its envelope.
const maxBody = api.MaxBodyBytes + 4096

// Dispatcher runs an action for an authenticated caller, and says which
// actions a caller may run; *api.Server has it.
type Dispatcher interface {
	ServeAction(w http.ResponseWriter, r *http.Request, action string, body []byte, secretID string, scope api.Scope)
	Permitted(scope api.Scope) []string
}

// Options configure a Console. API and Keys are required.
type Options struct {
	API  Dispatcher
	Keys api.KeyLookup // the keys that may sign in: those the API accepts
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SessionTTL is a session's lifetime from sign-in; zero means
	// DefaultSessionTTL.
	SessionTTL time.Duration
	// SecureCookie marks the cookie Secure (the listener is behind TLS).
	SecureCookie bool
	// Logger: nil means slog.Default().
	Logger *slog.Logger
	// GatewayURL is the gateway's base URL, where the request tester
	// sends web functions' requests; empty: no tester.
	GatewayURL string
	// Location is the zone the API's times are in; nil means time.Local.
	Location *time.Location
	// Images lists the embedded registry for the create-function form,
	// whose image references name RegistryHost; nil: no registry.
	Images       Images
	RegistryHost string
}

// Console serves the console. It implements http.Handler for the paths
// under Prefix.
type Console struct {
	opts   Options
	mux    *http.ServeMux
	client *http.Client // the request tester's

	limits *signInLimits // failed sign-ins per address and per SecretId

	mu       sync.Mutex
	sessions map[string]*session // by cookie token
}

type session struct {
	secretID string
	secret   [sha256.Size]byte // of the SecretKey signed in with: a key given a new secret ends the session
	scope    api.Scope         // as at the last request: the key is looked up again at every one
	csrf     string
	expires  time.Time
}

// New returns a console.
func New(opts Options) *Console {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	c := &Console{opts: opts, mux: http.NewServeMux(), client: webClient(), limits: newSignInLimits(), sessions: map[string]*session{}}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix(Prefix, http.FileServerFS(static))
	c.mux.Handle("GET "+Prefix, files)
	c.mux.HandleFunc("POST "+Prefix+"login", c.login)
	c.mux.HandleFunc("GET "+Prefix+"session", c.current)
	c.mux.HandleFunc("POST "+Prefix+"logout", c.logout)
	c.mux.HandleFunc("POST "+Prefix+"api", c.api)
	c.mux.HandleFunc("POST "+Prefix+"settings", c.settings)
	c.mux.HandleFunc("POST "+Prefix+"images", c.images)
	c.mux.HandleFunc("POST "+Prefix+"web", c.web)
	return c
}

// ServeHTTP serves a request under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'")
	if r.Method == http.MethodPost {
		// A cross-site form cannot send JSON without a preflight, which
		// is never granted; browsers name the origin of every POST.
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			fail(w, http.StatusUnsupportedMediaType, "InvalidParameter", "Content-Type must be application/json")
			return
		}
		if !sameOrigin(r) {
			fail(w, http.StatusForbidden, "AuthFailure.CrossOrigin", "requests from another origin are refused")
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

// sameOrigin reports whether a POST came from the console's own page:
// browsers send Origin on every POST; a request without one comes from
// outside a browser, where CSRF does not arise.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// SignInRequest is the body of POST /console/login.
type SignInRequest struct {
	SecretId  string
	SecretKey string
}

// SessionInfo answers sign-in and GET /console/session.
type SessionInfo struct {
	SecretId   string
	Admin      bool
	Namespaces []string `json:",omitempty"` // those a non-admin key may act on
	Role       string   `json:",omitempty"` // a non-admin key's role
	Actions    []string // the actions the key may call: the page offers only those
	CSRFToken  string
	Expires    time.Time
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	var req SignInRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "InvalidParameter", "the body must be {\"SecretId\": ..., \"SecretKey\": ...}")
		return
	}
	now := c.opts.Now()
	succeeded, ok := c.limits.attempt(w, r, req.SecretId, now)
	if !ok {
		c.opts.Logger.Info("console: sign-in refused: over the limit", "secret_id", req.SecretId, "remote", r.RemoteAddr)
		return
	}
	scope, err := c.check(req.SecretId, req.SecretKey)
	if err != nil {
		c.opts.Logger.Info("console: sign-in refused", "secret_id", req.SecretId, "remote", r.RemoteAddr, "err", err)
		fail(w, http.StatusUnauthorized, "AuthFailure.SignatureFailure", "the SecretId or the SecretKey is wrong")
		return
	}
	succeeded()
	token, csrf := randomToken(), randomToken()
	s := &session{secretID: req.SecretId, secret: sha256.Sum256([]byte(req.SecretKey)), scope: scope, csrf: csrf, expires: now.Add(c.opts.SessionTTL)}
	c.mu.Lock()
	for k, old := range c.sessions { // sweep the expired
		if !now.Before(old.expires) {
			delete(c.sessions, k)
		}
	}
	c.sessions[token] = s
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: token, Path: Prefix, MaxAge: int(c.opts.SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.opts.SecureCookie,
	})
	writeJSON(w, http.StatusOK, c.info(s))
}

var errTemporary = errors.New("temporary credentials cannot sign in to the console")

// check verifies a key pair, in constant time for the secret.
func (c *Console) check(secretID, secretKey string) (api.Scope, error) {
	if secretID == "" || secretKey == "" {
		return api.Scope{}, errors.New("empty SecretId or SecretKey")
	}
	key, scope, err := c.opts.Keys.Lookup(secretID)
	if err != nil {
		return api.Scope{}, err
	}
	if subtle.ConstantTimeCompare([]byte(key), []byte(secretKey)) != 1 {
		return api.Scope{}, errors.New("wrong SecretKey")
	}
	if scope.Token != "" {
		return api.Scope{}, errTemporary
	}
	return scope, nil
}

func (c *Console) info(s *session) SessionInfo {
	return SessionInfo{SecretId: s.secretID, Admin: s.scope.Admin, Namespaces: s.scope.Namespaces, Role: string(s.scope.KeyRole()),
		Actions: c.opts.API.Permitted(s.scope), CSRFToken: s.csrf, Expires: s.expires}
}

// session returns the request's live session, or nil. The session's key
// is looked up again, so that a key disabled, deleted or given another
// scope since sign-in holds from the next request on: a key that no
// longer authenticates ends its sessions.
func (c *Console) session(r *http.Request) (string, *session) {
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return "", nil
	}
	c.mu.Lock()
	s := c.sessions[ck.Value]
	if s != nil && !c.opts.Now().Before(s.expires) {
		delete(c.sessions, ck.Value)
		s = nil
	}
	c.mu.Unlock()
	if s == nil {
		return "", nil
	}
	key, scope, err := c.opts.Keys.Lookup(s.secretID)
	sum := sha256.Sum256([]byte(key))
	if err != nil || subtle.ConstantTimeCompare(sum[:], s.secret[:]) != 1 || scope.Token != "" {
		c.mu.Lock()
		delete(c.sessions, ck.Value)
		c.mu.Unlock()
		return "", nil
	}
	c.mu.Lock()
	s.scope = scope
	now := *s
	c.mu.Unlock()
	return ck.Value, &now
}

// authorized returns the session of a request that changes something: it
// needs the cookie and the session's CSRF token.
func (c *Console) authorized(w http.ResponseWriter, r *http.Request) (string, *session) {
	token, s := c.session(r)
	if s == nil {
		fail(w, http.StatusUnauthorized, "AuthFailure.SessionExpired", "sign in first: there is no session, or it has expired")
		return "", nil
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(s.csrf)) != 1 {
		fail(w, http.StatusForbidden, "AuthFailure.CSRF", "the "+CSRFHeader+" header is missing or wrong")
		return "", nil
	}
	return token, s
}

func (c *Console) current(w http.ResponseWriter, r *http.Request) {
	_, s := c.session(r)
	if s == nil {
		fail(w, http.StatusUnauthorized, "AuthFailure.SessionExpired", "not signed in")
		return
	}
	writeJSON(w, http.StatusOK, c.info(s))
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	token, s := c.authorized(w, r)
	if s == nil {
		return
	}
	c.mu.Lock()
	delete(c.sessions, token)
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.opts.SecureCookie})
	writeJSON(w, http.StatusOK, struct{}{})
}

// ActionRequest is the body of POST /console/api.
type ActionRequest struct {
	Action string
	Body   json.RawMessage
}

func (c *Console) api(w http.ResponseWriter, r *http.Request) {
	_, s := c.authorized(w, r)
	if s == nil {
		return
	}
	var req ActionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil || req.Action == "" {
		fail(w, http.StatusBadRequest, "InvalidParameter", "the body must be {\"Action\": ..., \"Body\": {...}}")
		return
	}
	body := []byte(req.Body)
	if len(body) == 0 || string(body) == "null" {
		body = []byte("{}")
	}
	c.opts.API.ServeAction(w, r, req.Action, body, s.secretID, s.scope)
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// consoleError is the body of a refusal by the console itself (not by
// an action, whose errors come in the API's envelope).
type consoleError struct {
	Error struct{ Code, Message string }
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	var e consoleError
	e.Error.Code, e.Error.Message = code, msg
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Package api is scfd's SCF API 3.0 endpoint: POST / with a JSON body,
// X-TC-Action naming the action and a TC3-HMAC-SHA256 signature, answered
// with {"Response": {..., "RequestId": "<uuid>"}} and HTTP 200, errors
// included, as Tencent Cloud does.
//
// It answers every error with the SCF code that scf.ErrorCode, the one
// table from scfd's error classes (package errdefs) to SCF's codes, gives
// it. Handlers speak to the store through the small Store
// interface declared here, start image pulls through Deployer, and reach
// every other service (invocations, logs, triggers, concurrency, ...)
// through a small interface of Options; a service left nil answers its
// actions with UnsupportedOperation. The action table is built once, by
// New. The wire structs of each action (CreateFunctionRequest,
// GetFunctionResponse, ...) are exported for the CLI.
package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/meter"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/tc3"
)

// Version is the SCF API version served.
const Version = "2018-04-16"

// MaxBodyBytes bounds a request body: an InvokeFunction event may be 6 MB.
const MaxBodyBytes = 10 << 20

var errBodyTooLarge = &Error{Code: "RequestSizeLimitExceeded", Message: fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes)}

// Store is what the API needs of the function store; *store.Store has it.
type Store interface {
	CreateNamespace(ctx context.Context, ns scf.Namespace) error
	GetNamespace(ctx context.Context, name string) (scf.Namespace, error)
	ListNamespaces(ctx context.Context) ([]scf.Namespace, error)
	UpdateNamespace(ctx context.Context, name, description string) error
	DeleteNamespace(ctx context.Context, name string) error
	CreateFunction(ctx context.Context, fn *scf.Function) error
	GetFunction(ctx context.Context, ns, name, version string) (*scf.Function, error)
	ListFunctions(ctx context.Context, q store.FunctionQuery) ([]*scf.Function, int, error)
	UpdateFunction(ctx context.Context, ns, name, version string, update func(*scf.Function) error) (*scf.Function, error)
	DeleteFunction(ctx context.Context, ns, name string) error
	DeleteVersion(ctx context.Context, ns, name, version string) error
	CountFunctions(ctx context.Context) (map[string]int, error)
}

// Deployer fetches function images in the background.
type Deployer interface {
	// Deploy starts fetching the image of the function's $LATEST and
	// returns at once; it moves the function to Active (or CreateFailed,
	// UpdateFailed) through the store when done. The fetch from scfd's
	// registry carries the function's PullAccess: the rights of the key
	// that created it or updated its code (see Scope.Access).
	Deploy(namespace, name string)
	// Forget tells the deployer the function was deleted.
	Forget(namespace, name string)
}

// Options configure a Server. Only Store is required. Each service
// after Location serves a group of actions; a nil one answers them with
// UnsupportedOperation.
type Options struct {
	Store    Store
	Deployer Deployer         // nil: functions become Active at once, with ImageDigest ""
	Keys     KeyLookup        // nil: every request fails with AuthFailure.SecretIdNotFound
	Region   string           // reported by GetAccount and handed to handlers; may be empty
	AppID    string           // the account's AppId; may be empty
	UIN      string           // the account's UIN; may be empty
	Limits   Limits           // zero fields take the DefaultLimits values
	Logger   *slog.Logger     // nil: slog.Default()
	Now      func() time.Time // nil: time.Now
	Location *time.Location   // zone of the times in responses; nil: time.Local
	// Replays is the record of signatures' uses that this server shares
	// with the other servers of one database (replicas), so that a
	// request captured at one cannot be replayed as another action at
	// another (see tc3.Replays). Nil: this server alone decides, from
	// its memory.
	Replays tc3.SharedReplays

	// Invoker runs Invoke (RequestResponse) and InvokeFunction.
	Invoker Invoker
	// Queue takes Invoke with InvocationType Event; nil answers
	// UnsupportedOperation.InvocationType.
	Queue AsyncQueue
	// Async serves ListAsyncEvents, GetAsyncEventStatus,
	// TerminateAsyncEvent, RetryAsyncEvent,
	// UpdateFunctionEventInvokeConfig and GetFunctionEventInvokeConfig.
	Async AsyncEvents
	// Logs serves GetFunctionLogs and GetRequestStatus (which asks Async
	// too, when set, about events between attempts).
	Logs LogQuery
	// Triggers serves CreateTrigger, UpdateTrigger, UpdateTriggerStatus,
	// DeleteTrigger and ListTriggers; GetFunction lists a function's
	// triggers only with it.
	Triggers Triggers
	// Concurrency serves the reserved, total and provisioned concurrency
	// actions; with it GetAccount reports the quota it keeps, without it
	// Limits.ConcurrencyMemoryMB.
	Concurrency ConcurrencyService
	// Metrics serves GetFunctionMetrics.
	Metrics MetricsSource
	// Instances serves ListInstances.
	Instances InstanceLister
	// Usage serves GetUsage, priced with Prices (the zero Prices make
	// everything free).
	Usage  UsageSource
	Prices meter.Prices
	// Versions serves PublishVersion, ListVersionByFunction,
	// DeleteFunctionVersion and the alias actions.
	Versions VersionStore
	// TenantKeys serves CreateKey, ListKeys, UpdateKey and DeleteKey.
	TenantKeys TenantKeyStore
	// Registries are the host:port names of the embedded registry: an
	// ImageUri naming one must name a repository of a namespace the
	// caller may act on. Nil means there is no embedded registry.
	Registries []string
}

// Limits are the account's quotas, enforced and reported by GetAccount.
type Limits struct {
	Namespaces            int   // namespaces, the default one included
	FunctionsPerNamespace int   // functions in one namespace
	ConcurrencyMemoryMB   int64 // the account's concurrency quota, in MB
}

// DefaultLimits are used for the zero fields of Options.Limits.
var DefaultLimits = Limits{
	Namespaces:            20,
	FunctionsPerNamespace: 1000,
	ConcurrencyMemoryMB:   128000,
}

// Server serves the SCF API. It implements http.Handler.
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	actions map[string]HandlerFunc // built by New, never changed
	replays *tc3.Replays           // the action of each signature still valid
}

// HandlerFunc serves one action. It returns the action's response struct
// (marshalled as the Response object, RequestId added) or an error: an
// *Error, a tc3 error, or an errdefs class, mapped to an SCF code.
type HandlerFunc func(ctx context.Context, call *Call) (any, error)

// Call is one authenticated API request.
type Call struct {
	Action    string
	RequestID string
	Region    string // X-TC-Region
	SecretID  string
	Scope     Scope
	Body      []byte
}

// Decode decodes the body into v. Unknown fields are ignored (the SDKs send
// extras); a body that is not JSON, or a field of the wrong type, is an
// InvalidParameter error naming the field.
func (c *Call) Decode(v any) error {
	body := bytes.TrimSpace(c.Body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			field := typeErr.Field
			if field == "" {
				return &Error{Code: "InvalidParameter", Message: fmt.Sprintf("the request body must be a JSON object, not %s", typeErr.Value)}
			}
			return &Error{Code: "InvalidParameter", Message: fmt.Sprintf("parameter %s must be of type %s, not %s", field, jsonType(typeErr.Type.String()), typeErr.Value)}
		}
		return &Error{Code: "InvalidParameter", Message: "the request body is not valid JSON: " + err.Error()}
	}
	if dec.More() {
		return &Error{Code: "InvalidParameter", Message: "the request body holds more than one JSON value"}
	}
	return nil
}

func jsonType(goType string) string {
	switch strings.TrimLeft(goType, "*[]") {
	case "string":
		return "String"
	case "int64", "int", "uint64", "int32":
		return "Integer"
	case "bool":
		return "Boolean"
	case "float64":
		return "Float"
	}
	if strings.HasPrefix(goType, "[]") {
		return "Array"
	}
	return "Object"
}

// Authorize checks that the caller's key may act on namespace.
func (c *Call) Authorize(namespace string) error {
	if !c.Scope.Allows(namespace) {
		return errdefs.New(errdefs.ErrUnauthorized, "CAM", "this SecretId may not act on namespace %q", namespace)
	}
	return nil
}

// Error is an API error with an explicit SCF code, for the codes that are
// not an errdefs class (InvalidParameter, InvalidAction, ...).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns a server of every action, each served by its service in
// opts.
func New(opts Options) *Server {
	return newServer(opts, nil)
}

// newServer is New with more actions, for the tests.
func newServer(opts Options, more map[string]HandlerFunc) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Limits.Namespaces == 0 {
		opts.Limits.Namespaces = DefaultLimits.Namespaces
	}
	if opts.Limits.FunctionsPerNamespace == 0 {
		opts.Limits.FunctionsPerNamespace = DefaultLimits.FunctionsPerNamespace
	}
	if opts.Limits.ConcurrencyMemoryMB == 0 {
		opts.Limits.ConcurrencyMemoryMB = DefaultLimits.ConcurrencyMemoryMB
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, replays: tc3.NewReplays(tc3.ReplayOptions{Shared: opts.Replays})}
	s.actions = s.actionTable()
	for name, h := range more {
		s.actions[name] = h
	}
	return s
}

// ServeHTTP serves one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := uuid.NewString()
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	resp, err := s.serve(w, r, reqID)
	if err != nil {
		s.writeError(w, r, reqID, err)
		return
	}
	s.writeResponse(w, r, reqID, resp)
}

// checkHeader checks what a signed request's headers alone tell: the
// Authorization's shape, the timestamp and a known SecretId, whose scope
// it returns.
func (s *Server) checkHeader(r *http.Request) (*tc3.Header, Scope, error) {
	var scope Scope
	header, err := tc3.CheckHeader(r, func(id string) (string, error) {
		if s.opts.Keys == nil {
			return "", tc3.ErrSecretIDNotFound
		}
		key, sc, err := s.opts.Keys.Lookup(id)
		if errors.Is(err, errdefs.ErrNotFound) {
			return "", tc3.ErrSecretIDNotFound
		}
		scope = sc
		return key, err
	}, s.now())
	return header, scope, err
}

// checkBody checks the signature over body, and the session token of
// temporary credentials.
func checkBody(r *http.Request, header *tc3.Header, scope Scope, body []byte) (tc3.Verified, error) {
	verified, err := header.Verify(r, body)
	if err != nil {
		return verified, err
	}
	if scope.Token != "" && subtle.ConstantTimeCompare([]byte(verified.Token), []byte(scope.Token)) != 1 {
		return verified, &Error{Code: "AuthFailure.TokenFailure", Message: "the X-TC-Token does not match the temporary SecretId"}
	}
	return verified, nil
}

// AuthorizeInvoke checks a signed request that invokes a function of
// namespace outside the API (a function URL of AuthType CAM): signed as
// API calls are, by a key whose scope covers namespace and whose role may
// invoke. body is the whole request body.
func (s *Server) AuthorizeInvoke(r *http.Request, body []byte, namespace string) error {
	header, scope, err := s.checkHeader(r)
	if err != nil {
		return err
	}
	if _, err := checkBody(r, header, scope, body); err != nil {
		return err
	}
	if !scope.Allows(namespace) {
		return fmt.Errorf("the key may not act on namespace %q", namespace)
	}
	if !scope.Permits("InvokeFunction") {
		return fmt.Errorf("the key's role %s may not invoke functions", scope.KeyRole())
	}
	return nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, reqID string) (any, error) {
	if r.Method != http.MethodPost {
		return nil, &Error{Code: "UnsupportedProtocol", Message: "only POST requests are supported"}
	}
	// Everything that can be checked on the headers is, before the body
	// is read: a request without a valid key, or a stale one, costs no
	// more than its headers.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, &Error{Code: "InvalidParameter", Message: "Content-Type must be application/json"}
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, errBodyTooLarge
	}
	header, scope, err := s.checkHeader(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errBodyTooLarge
		}
		return nil, &Error{Code: "InvalidParameter", Message: "reading the request body: " + err.Error()}
	}
	verified, err := checkBody(r, header, scope, body)
	if err != nil {
		return nil, err
	}
	action := r.Header.Get("X-TC-Action")
	if action == "" {
		return nil, &Error{Code: "MissingParameter", Message: "the X-TC-Action header is required"}
	}
	h := s.actions[action]
	if h == nil {
		return nil, &Error{Code: "InvalidAction", Message: fmt.Sprintf("action %q does not exist", action)}
	}
	switch v := r.Header.Get("X-TC-Version"); v {
	case Version:
	case "":
		return nil, &Error{Code: "MissingParameter", Message: "the X-TC-Version header is required"}
	default:
		return nil, &Error{Code: "NoSuchVersion", Message: fmt.Sprintf("API version %q does not exist: use %s", v, Version)}
	}
	// The SDKs do not sign X-TC-Action: a signature is good for the
	// actions it was used for within a moment of its first use, by the
	// same client, only; on every server sharing opts.Replays.
	client, _, _ := net.SplitHostPort(r.RemoteAddr)
	if err := s.replays.Use(r.Context(), verified, replaySigner(verified.SecretID, scope), action, client, s.now()); err != nil {
		return nil, err
	}
	return h(r.Context(), &Call{
		Action:    action,
		RequestID: reqID,
		Region:    r.Header.Get("X-TC-Region"),
		SecretID:  verified.SecretID,
		Scope:     scope,
		Body:      body,
	})
}

// replaySigner is whom a signature is counted against in the replay
// check: the administrator, privileged, or a tenant key, by their
// SecretId; a function's temporary credentials, which rotate, by their
// namespace.
func replaySigner(secretID string, scope Scope) tc3.Signer {
	if scope.Token != "" && len(scope.Namespaces) == 1 {
		return tc3.Signer{Name: "temporary credentials of " + scope.Namespaces[0]}
	}
	return tc3.Signer{Name: secretID, Privileged: scope.Admin}
}

// ServeAction runs action with body for a caller authenticated another
// way (a console session with the key secretID and its scope) and writes
// the same {"Response": ...} envelope as ServeHTTP, errors included.
func (s *Server) ServeAction(w http.ResponseWriter, r *http.Request, action string, body []byte, secretID string, scope Scope) {
	reqID := uuid.NewString()
	r = r.Clone(r.Context())
	r.Header.Set("X-TC-Action", action) // named in the logs
	h := s.actions[action]
	if h == nil {
		s.writeError(w, r, reqID, &Error{Code: "InvalidAction", Message: fmt.Sprintf("action %q does not exist", action)})
		return
	}
	resp, err := h(r.Context(), &Call{Action: action, RequestID: reqID, Region: s.opts.Region, SecretID: secretID, Scope: scope, Body: body})
	if err != nil {
		s.writeError(w, r, reqID, err)
		return
	}
	s.writeResponse(w, r, reqID, resp)
}

// errorCode maps an error to its SCF code (scf.ErrorCode, the one table
// of codes) and client-safe message. ok is false for errors of no known
// class: an InternalError.
func errorCode(err error) (code, msg string, ok bool) {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.Code, apiErr.Message, true
	}
	if c := tc3.Code(err); c != "" {
		var te *tc3.Error
		errors.As(err, &te)
		return c, te.Msg, true
	}
	code, ok = scf.ErrorCode(err)
	if !ok {
		return code, "an internal error occurred", false
	}
	return code, errdefs.Message(err, err.Error()), true
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	code, msg, ok := errorCode(err)
	if !ok {
		s.log.ErrorContext(r.Context(), "api: internal error", "action", r.Header.Get("X-TC-Action"), "request_id", reqID, "err", err)
	} else {
		s.log.DebugContext(r.Context(), "api: request refused", "action", r.Header.Get("X-TC-Action"), "request_id", reqID, "code", code, "err", err)
	}
	writeJSON(w, errorEnvelope{Response: errorResponse{Error: errorBody{Code: code, Message: msg}, RequestId: reqID}})
}

type errorBody struct {
	Code    string
	Message string
}

type errorResponse struct {
	Error     errorBody
	RequestId string
}

type errorEnvelope struct {
	Response errorResponse
}

func (s *Server) writeResponse(w http.ResponseWriter, r *http.Request, reqID string, resp any) {
	b, err := json.Marshal(resp)
	if err == nil && (len(b) == 0 || b[0] != '{') && string(b) != "null" {
		err = fmt.Errorf("api: the response of %s is not a JSON object", r.Header.Get("X-TC-Action"))
	}
	if err != nil {
		s.writeError(w, r, reqID, err)
		return
	}
	id, _ := json.Marshal(reqID)
	var out bytes.Buffer
	out.WriteString(`{"Response":`)
	if string(b) == "null" || string(b) == "{}" {
		out.WriteString(`{"RequestId":`)
	} else {
		out.Write(b[:len(b)-1])
		out.WriteString(`,"RequestId":`)
	}
	out.Write(id)
	out.WriteString("}}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Write(out.Bytes())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

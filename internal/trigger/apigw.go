package trigger

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
)

// Invoker runs synchronous invocations; *invoke.Invoker has it.
type Invoker interface {
	Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error)
}

// MaxAPIGWBody bounds the request body of an API gateway trigger: the
// event that carries it may be at most 6 MB.
const MaxAPIGWBody = 4 << 20

// InvalidResponse is SCF's answer when a function's integration response
// is not in the expected form.
const InvalidResponse = `{"errno":403,"error":"Invalid scf response format. please check your scf response format."}`

// APIGWEvent is SCF's API gateway integration request.
type APIGWEvent struct {
	RequestContext        APIGWContext      `json:"requestContext"`
	Headers               map[string]string `json:"headers"`
	Body                  string            `json:"body"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
	PathParameters        map[string]string `json:"pathParameters"`
	QueryStringParameters map[string]string `json:"queryStringParameters"`
	HeaderParameters      map[string]string `json:"headerParameters"`
	StageVariables        map[string]string `json:"stageVariables"`
	Path                  string            `json:"path"`
	QueryString           map[string]any    `json:"queryString"`
	HTTPMethod            string            `json:"httpMethod"`
}

// APIGWContext is the requestContext of an API gateway event.
type APIGWContext struct {
	ServiceID  string            `json:"serviceId"`
	Path       string            `json:"path"`
	HTTPMethod string            `json:"httpMethod"`
	RequestID  string            `json:"requestId"`
	Identity   map[string]string `json:"identity"`
	SourceIP   string            `json:"sourceIp"`
	Stage      string            `json:"stage"`
}

// integration is the response a function gives an API gateway trigger.
type integration struct {
	IsBase64Encoded *bool                      `json:"isBase64Encoded"`
	StatusCode      *int                       `json:"statusCode"`
	Headers         map[string]json.RawMessage `json:"headers"`
	Body            *string                    `json:"body"`
}

// Endpoints routes requests for /{namespace}/{function}/apigw/{trigger}/{path}
// to the function's API gateway trigger, those for
// /{namespace}/{function}/url/{trigger}/{path} to its function URL (http
// trigger), and everything else to next. A disabled trigger answers 503;
// an unknown function or trigger falls through to next.
//
// Behind an API gateway trigger the function runs synchronously; its
// answer must be an integration response ({"isBase64Encoded",
// "statusCode", "headers", "body"}), else the caller gets 403 and SCF's
// InvalidResponse. A failed invocation answers 200 with SCF's error body,
// as SCF's gateway does when its timeout exceeds the function's. A
// function URL does the same for an event function, and hands a web
// function the request itself (see serveURL).
func (s *Service) Endpoints(iv Invoker, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 5)
		if len(parts) < 4 || (parts[2] != APIGWPrefix && parts[2] != URLPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		ns, function, name := parts[0], parts[1], parts[3]
		want := scf.TriggerAPIGW
		if parts[2] == URLPrefix {
			want = scf.TriggerHTTP
		}
		t, err := s.Get(r.Context(), ns, function, name)
		if err != nil || t.Type != want {
			next.ServeHTTP(w, r)
			return
		}
		if !t.Enabled {
			writeJSONError(w, http.StatusServiceUnavailable, "the trigger is disabled")
			return
		}
		path := "/"
		if len(parts) == 5 {
			path += parts[4]
		}
		if want == scf.TriggerHTTP {
			s.serveURL(w, r, iv, next, t, path)
			return
		}
		s.serveAPIGW(w, r, iv, t, path)
	})
}

func (s *Service) serveAPIGW(w http.ResponseWriter, r *http.Request, iv Invoker, t *scf.Trigger, path string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxAPIGWBody+1))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		return
	}
	if len(body) > MaxAPIGWBody {
		writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes", MaxAPIGWBody))
		return
	}
	id := invocation.NewRequestID()
	event := BuildAPIGWEvent(r, t.Name, path, id, body)
	raw, err := json.Marshal(event)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "building the event")
		return
	}
	res, err := iv.Invoke(r.Context(), invocation.Request{
		Namespace: t.Namespace, Function: t.Function, Qualifier: t.Qualifier, Event: raw, RequestID: id,
	})
	w.Header().Set("X-Scf-Request-Id", id)
	if err != nil {
		writeJSONError(w, http.StatusBadGateway, err.Error())
		return
	}
	if res.RetCode != 0 {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, res.ErrMsg)
		return
	}
	writeIntegration(w, res.RetMsg)
}

// BuildAPIGWEvent turns an HTTP request into SCF's API gateway event.
// Header names are lower case; a body that is not UTF-8 text is sent
// base64-encoded with isBase64Encoded true.
func BuildAPIGWEvent(r *http.Request, trigger, path, requestID string, body []byte) APIGWEvent {
	ev := APIGWEvent{
		RequestContext: APIGWContext{
			ServiceID: "scfd", Path: "/" + trigger, HTTPMethod: r.Method, RequestID: requestID,
			Identity: map[string]string{}, SourceIP: sourceIP(r), Stage: "release",
		},
		Headers:               map[string]string{},
		PathParameters:        map[string]string{},
		QueryStringParameters: map[string]string{},
		HeaderParameters:      map[string]string{},
		StageVariables:        map[string]string{"stage": "release"},
		Path:                  path,
		QueryString:           map[string]any{},
		HTTPMethod:            r.Method,
	}
	for k, vs := range r.Header {
		ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	ev.Headers["host"] = r.Host
	for k, vs := range r.URL.Query() {
		ev.QueryStringParameters[k] = vs[0]
		if len(vs) == 1 {
			ev.QueryString[k] = vs[0]
		} else {
			ev.QueryString[k] = vs
		}
	}
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return ev
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// writeIntegration writes a function's integration response, or 403 when
// it is not one.
func writeIntegration(w http.ResponseWriter, retMsg string) {
	var resp integration
	dec := json.NewDecoder(strings.NewReader(retMsg))
	if err := dec.Decode(&resp); err != nil || resp.StatusCode == nil || *resp.StatusCode < 100 || *resp.StatusCode > 599 {
		invalid(w)
		return
	}
	headers := http.Header{}
	for k, raw := range resp.Headers {
		var one string
		var many []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			headers.Add(k, one)
		case json.Unmarshal(raw, &many) == nil:
			for _, v := range many {
				headers.Add(k, v)
			}
		default:
			invalid(w)
			return
		}
	}
	var body []byte
	if resp.Body != nil {
		body = []byte(*resp.Body)
		if resp.IsBase64Encoded != nil && *resp.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(*resp.Body)
			if err != nil {
				invalid(w)
				return
			}
			body = b
		}
	}
	for k, vs := range headers {
		if strings.EqualFold(k, "Location") {
			continue // SCF's gateway does not support it
		}
		if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), "X-Scf-Request-Id") {
			continue // the platform's id wins, as on web functions
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(*resp.StatusCode)
	w.Write(body)
}

func invalid(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	io.WriteString(w, InvalidResponse)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errno": status, "error": msg})
}

package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/scfd/scfd/internal/api"
)

// Repository is one repository of the embedded registry and its tags.
type Repository struct {
	Name string
	Tags []string
}

// Images lists the embedded registry's repositories a key may pull from;
// the daemon adapts *registry.Registry.
type Images interface {
	Repositories(ctx context.Context, scope api.Scope) ([]Repository, error)
}

// Settings answers POST /console/settings: what the page needs to know of
// the server beyond the API.
type Settings struct {
	// GatewayURL is the base URL of web functions, such as
	// "http://127.0.0.1:9200"; a web function answers at
	// GatewayURL/{namespace}/{function}/.
	GatewayURL string
	// TimeZone names the zone the API's times are in, such as "UTC" or
	// "Asia/Shanghai"; UTCOffset is its offset now, in minutes east.
	TimeZone  string
	UTCOffset int
	// Registry is the embedded registry's host:port; empty when there is
	// none.
	Registry string
}

func (c *Console) settings(w http.ResponseWriter, r *http.Request) {
	if _, s := c.authorized(w, r); s == nil {
		return
	}
	now := c.opts.Now().In(c.opts.Location)
	_, off := now.Zone()
	writeJSON(w, http.StatusOK, Settings{
		GatewayURL: c.opts.GatewayURL, TimeZone: c.opts.Location.String(), UTCOffset: off / 60, Registry: c.opts.RegistryHost,
	})
}

// ImagesResponse answers POST /console/images.
type ImagesResponse struct {
	Registry     string // host:port of image references
	Repositories []Repository
}

func (c *Console) images(w http.ResponseWriter, r *http.Request) {
	_, s := c.authorized(w, r)
	if s == nil {
		return
	}
	out := ImagesResponse{Registry: c.opts.RegistryHost, Repositories: []Repository{}}
	if c.opts.Images != nil {
		repos, err := c.opts.Images.Repositories(r.Context(), s.scope)
		if err != nil {
			c.opts.Logger.Error("console: listing the registry", "err", err)
			fail(w, http.StatusInternalServerError, "InternalError", "the registry could not be listed")
			return
		}
		out.Repositories = repos
	}
	writeJSON(w, http.StatusOK, out)
}

// WebRequest is the body of POST /console/web: a request the console
// sends to a web function through the gateway, for its request tester.
type WebRequest struct {
	Namespace    string
	FunctionName string
	Qualifier    string // empty: $LATEST
	Method       string // empty: GET
	Path         string // below the function, such as "/users/1"
	Query        string // without '?'
	Headers      []Header
	Body         string
}

// Header is one request or response header line.
type Header struct{ Name, Value string }

// WebResponse answers POST /console/web with what the gateway answered.
type WebResponse struct {
	Status    int
	Headers   []Header
	Body      string
	Truncated bool    // the body was longer than MaxWebBody
	Duration  float64 // ms, as the console measured it
	RequestId string  // X-Scf-Request-Id
}

// MaxWebBody bounds the body of a tested web request's answer that the
// page shows.
const MaxWebBody = 1 << 20

func (c *Console) web(w http.ResponseWriter, r *http.Request) {
	_, s := c.authorized(w, r)
	if s == nil {
		return
	}
	var req WebRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "InvalidParameter", "the body must be a WebRequest")
		return
	}
	if req.Namespace == "" {
		req.Namespace = "default"
	}
	if !s.scope.Allows(req.Namespace) {
		fail(w, http.StatusForbidden, "UnauthorizedOperation", fmt.Sprintf("this key may not act on namespace %q", req.Namespace))
		return
	}
	if c.opts.GatewayURL == "" {
		fail(w, http.StatusServiceUnavailable, "UnsupportedOperation", "this server has no gateway")
		return
	}
	// The request goes to the function's own path on the gateway: names
	// and path are escaped, so that none leads elsewhere.
	target, err := url.Parse(c.opts.GatewayURL)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "UnsupportedOperation", "the gateway's URL is invalid")
		return
	}
	fn := req.FunctionName
	if req.Qualifier != "" {
		fn += "@" + req.Qualifier
	}
	target.Path = "/" + req.Namespace + "/" + fn + "/" + strings.TrimPrefix(req.Path, "/")
	target.RawPath = ""
	target.RawQuery = strings.TrimPrefix(req.Query, "?")
	method := strings.ToUpper(cmpOr(req.Method, http.MethodGet))
	out, err := http.NewRequestWithContext(r.Context(), method, target.String(), bytes.NewReader([]byte(req.Body)))
	if err != nil || req.FunctionName == "" || strings.ContainsAny(req.Namespace+req.FunctionName+req.Qualifier, "/?#") {
		fail(w, http.StatusBadRequest, "InvalidParameter", "the function, method, path or query is invalid")
		return
	}
	for _, h := range req.Headers {
		if h.Name != "" {
			out.Header.Add(h.Name, h.Value)
		}
	}
	start := c.opts.Now()
	resp, err := c.client.Do(out)
	if err != nil {
		fail(w, http.StatusBadGateway, "InternalError", "the gateway could not be reached: "+err.Error())
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxWebBody+1))
	res := WebResponse{
		Status: resp.StatusCode, RequestId: resp.Header.Get("X-Scf-Request-Id"),
		Duration: float64(c.opts.Now().Sub(start).Microseconds()) / 1000,
	}
	if len(body) > MaxWebBody {
		body, res.Truncated = body[:MaxWebBody], true
	}
	res.Body = string(body)
	for name, vs := range resp.Header {
		for _, v := range vs {
			res.Headers = append(res.Headers, Header{name, v})
		}
	}
	slices.SortStableFunc(res.Headers, func(a, b Header) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, res)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// webClient sends the tester's requests: no redirects are followed (the
// page shows them), no proxy, no timeout of its own (the function's
// Timeout bounds the request on the gateway).
func webClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableCompression: true, IdleConnTimeout: 30 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Package client is scfd's Go client of the SCF API 3.0: it signs each
// request with TC3-HMAC-SHA256 (package tc3), posts it as JSON and decodes
// the {"Response": ...} envelope, turning an error response into an
// *APIError. The CLI and the tests speak to scfd through it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scfd/scfd/internal/tc3"
)

// DefaultVersion is the SCF API version scfd implements.
const DefaultVersion = "2018-04-16"

// maxResponseBytes bounds a response body the client will read.
const maxResponseBytes = 64 << 20

// Client calls one SCF API endpoint with one credential.
// It is safe for concurrent use.
type Client struct {
	endpoint *url.URL
	cred     tc3.Credential
	service  string
	region   string
	version  string
	http     *http.Client
	now      func() time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithRegion sets X-TC-Region. The default is empty: no header is sent.
func WithRegion(region string) Option { return func(c *Client) { c.region = region } }

// WithVersion sets X-TC-Version. The default is DefaultVersion.
func WithVersion(version string) Option { return func(c *Client) { c.version = version } }

// WithHTTPClient sets the HTTP client. The default is http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithService overrides the service name of the signature scope. The
// default is the first label of the endpoint's host, as the official SDKs
// do ("127" for http://127.0.0.1:9100, "scf" for scf.tencentcloudapi.com).
func WithService(service string) Option { return func(c *Client) { c.service = service } }

// WithClock sets the clock the signature timestamps come from. The default
// is time.Now.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// New returns a client of the API at endpoint, such as
// "http://127.0.0.1:9100". An endpoint without a scheme is taken as https.
func New(endpoint string, cred tc3.Credential, opts ...Option) *Client {
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		// Keep the bad endpoint; Call reports it.
		u = &url.URL{Opaque: endpoint}
	}
	u.Path, u.RawQuery = "/", ""
	c := &Client{
		endpoint: u,
		cred:     cred,
		version:  DefaultVersion,
		http:     http.DefaultClient,
		now:      time.Now,
	}
	if host := u.Hostname(); host != "" {
		c.service, _, _ = strings.Cut(host, ".")
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// APIError is an error answered by the API.
type APIError struct {
	Code      string // e.g. "ResourceNotFound.Function"
	Message   string
	RequestID string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: %s (RequestId %s)", e.Code, e.Message, e.RequestID)
}

// Call invokes action with req (marshalled to JSON; nil means {}) and
// decodes the Response object into resp (which may be nil). An error
// response is returned as *APIError.
func (c *Client) Call(ctx context.Context, action string, req, resp any) error {
	if c.endpoint.Host == "" {
		return fmt.Errorf("client: bad endpoint %q", c.endpoint.Opaque)
	}
	body := []byte("{}")
	if req != nil {
		b, err := json.Marshal(req)
		if err != nil {
			return fmt.Errorf("client: encoding %s request: %w", action, err)
		}
		body = b
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("client: %s: %w", action, err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-TC-Action", action)
	r.Header.Set("X-TC-Version", c.version)
	if c.region != "" {
		r.Header.Set("X-TC-Region", c.region)
	}
	if err := tc3.Sign(r, body, c.cred, c.service, c.now()); err != nil {
		return fmt.Errorf("client: signing %s: %w", action, err)
	}
	res, err := c.http.Do(r)
	if err != nil {
		return fmt.Errorf("client: %s: %w", action, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("client: reading the %s response: %w", action, err)
	}
	var envelope struct {
		Response json.RawMessage
	}
	if err := json.Unmarshal(data, &envelope); err != nil || len(envelope.Response) == 0 {
		return fmt.Errorf("client: %s: HTTP %d with a body that is not an API response: %.200q", action, res.StatusCode, data)
	}
	var head struct {
		Error *struct {
			Code    string
			Message string
		}
		RequestId string
	}
	if err := json.Unmarshal(envelope.Response, &head); err != nil {
		return fmt.Errorf("client: decoding the %s response: %w", action, err)
	}
	if head.Error != nil {
		return &APIError{Code: head.Error.Code, Message: head.Error.Message, RequestID: head.RequestId}
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(envelope.Response, resp); err != nil {
		return fmt.Errorf("client: decoding the %s response: %w", action, err)
	}
	return nil
}

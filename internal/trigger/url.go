package trigger

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// URLPrefix is the path segment of function URLs (http triggers) on the
// gateway: /{namespace}/{function}/url/{trigger}/...
const URLPrefix = "url"

// Function URL authentication types.
const (
	AuthNone = "NONE" // anyone who reaches the gateway may call
	AuthCAM  = "CAM"  // requests must be signed by a key allowed on the namespace
)

// MaxSignedBody bounds the body of a signed function URL request: the
// signature covers the body, so it is read whole before the call.
const MaxSignedBody = 6 << 20

// URLDesc is the TriggerDesc of an http trigger: SCF's AuthType and
// NetConfig, and the URL scfd serves it at (scfd's own field, set by
// scfd).
type URLDesc struct {
	AuthType  string
	NetConfig URLNetConfig
	URL       string `json:"Url,omitempty"`
}

// URLNetConfig says where a function URL is reachable. scfd has one
// gateway, so only the default (extranet) is accepted.
type URLNetConfig struct {
	EnableIntranet bool
	EnableExtranet bool
}

// ParseURLDesc reads an http trigger's TriggerDesc; empty means AuthType
// NONE.
func ParseURLDesc(desc string) (URLDesc, error) {
	d := URLDesc{AuthType: AuthNone, NetConfig: URLNetConfig{EnableExtranet: true}}
	if strings.TrimSpace(desc) != "" {
		var in struct {
			AuthType  string
			NetConfig *URLNetConfig
		}
		if err := json.Unmarshal([]byte(desc), &in); err != nil {
			return URLDesc{}, errdefs.Invalid("TriggerDesc", `the TriggerDesc of an http trigger must be JSON such as {"AuthType":"NONE","NetConfig":{"EnableExtranet":true}}: %v`, err)
		}
		if in.AuthType != "" {
			d.AuthType = in.AuthType
		}
		if in.NetConfig != nil {
			d.NetConfig = *in.NetConfig
		}
	}
	if d.AuthType != AuthNone && d.AuthType != AuthCAM {
		return URLDesc{}, errdefs.Invalid("TriggerDesc", "AuthType %q is invalid: use NONE or CAM", d.AuthType)
	}
	if d.NetConfig.EnableIntranet || !d.NetConfig.EnableExtranet {
		return URLDesc{}, errdefs.New(errdefs.ErrUnsupported, "TriggerDesc", "scfd serves function URLs on its one gateway: NetConfig must be {\"EnableIntranet\":false,\"EnableExtranet\":true}")
	}
	return d, nil
}

// String is d as stored and shown in TriggerDesc.
func (d URLDesc) String() string {
	b, _ := json.Marshal(d)
	return string(b)
}

// URL is the gateway URL of a function URL (http trigger).
func (s *Service) URL(t *scf.Trigger) string {
	return fmt.Sprintf("%s/%s/%s/%s/%s/", s.opts.GatewayURL, t.Namespace, t.Function, URLPrefix, t.Name)
}

// serveURL answers a request to function URL t, for path. An event
// function gets SCF's API gateway event and must answer an integration
// response, as with an apigw trigger; a web function gets the request
// itself, through next (the gateway), at its qualifier.
func (s *Service) serveURL(w http.ResponseWriter, r *http.Request, iv Invoker, next http.Handler, t *scf.Trigger, path string) {
	d, err := ParseURLDesc(t.Desc)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "the trigger's TriggerDesc is unreadable")
		return
	}
	if d.AuthType == AuthCAM {
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxSignedBody+1))
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
			return
		}
		if len(body) > MaxSignedBody {
			writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body of a signed request is larger than %d bytes", MaxSignedBody))
			return
		}
		if s.opts.Authorize == nil {
			writeJSONError(w, http.StatusForbidden, "this function URL needs a signed request, and this server checks none")
			return
		}
		if err := s.opts.Authorize(r, body, t.Namespace); err != nil {
			writeJSONError(w, http.StatusForbidden, "this function URL needs a request signed by a key allowed on namespace "+t.Namespace+": "+err.Error())
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		r.ContentLength = int64(len(body))
	}
	fn, err := s.opts.Functions.GetFunction(r.Context(), t.Namespace, t.Function, scf.Latest)
	if err != nil {
		writeJSONError(w, http.StatusNotFound, "the function of this URL is gone")
		return
	}
	if fn.Type != scf.TypeHTTP {
		s.serveAPIGW(w, r, iv, t, path)
		return
	}
	// The gateway's own path for the function at the trigger's qualifier.
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + t.Namespace + "/" + t.Function + "@" + t.Qualifier + path
	r2.URL.RawPath = ""
	next.ServeHTTP(w, r2)
}

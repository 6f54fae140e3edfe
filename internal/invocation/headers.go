package invocation

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// HeaderPrefix starts the names of the platform's headers. Clients of the
// gateway cannot set them: see DropPlatformHeaders.
const HeaderPrefix = "X-Scf-"

// PlatformHeaders are the X-Scf-* headers scfd sends with every request
// to an instance, for event invocations and web requests alike.
type PlatformHeaders struct {
	RequestID string
	Function  *scf.Function
	Timeout   time.Duration
	Account   sandbox.Account
	// Credentials, when non-nil, fill X-Scf-Secret-Id, -Secret-Key and
	// -Session-Token.
	Credentials *credentials.Temporary
	TriggerSrc  string // X-Scf-Trigger-Src when set
}

// Set writes the headers into h.
func (p PlatformHeaders) Set(h http.Header) {
	h["X-Scf-Request-Id"] = []string{p.RequestID}
	h["X-Scf-Memory"] = []string{strconv.FormatInt(p.Function.MemorySize, 10)}
	h["X-Scf-Timeout"] = []string{strconv.FormatInt(p.Timeout.Milliseconds(), 10)}
	h["X-Scf-Version"] = []string{p.Function.Version}
	h["X-Scf-Name"] = []string{p.Function.Name}
	h["X-Scf-Namespace"] = []string{p.Function.Namespace}
	h["X-Scf-Region"] = []string{p.Account.Region}
	h["X-Scf-Appid"] = []string{p.Account.AppID}
	h["X-Scf-Uin"] = []string{p.Account.UIN}
	if t := p.Credentials; t != nil {
		h["X-Scf-Secret-Id"] = []string{t.SecretID}
		h["X-Scf-Secret-Key"] = []string{t.SecretKey}
		h["X-Scf-Session-Token"] = []string{t.Token}
	}
	if p.TriggerSrc != "" {
		h["X-Scf-Trigger-Src"] = []string{p.TriggerSrc}
	}
}

// DropPlatformHeaders removes every X-Scf-* header from h (names are
// canonical in an http.Header, so the prefix match ignores case).
func DropPlatformHeaders(h http.Header) {
	for k := range h {
		if len(k) >= len(HeaderPrefix) && strings.EqualFold(k[:len(HeaderPrefix)], HeaderPrefix) {
			delete(h, k)
		}
	}
}

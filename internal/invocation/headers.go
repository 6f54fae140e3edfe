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
// gateway cannot set them: see IsPlatformHeader.
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

// Set writes the headers into h. Their values share one allocation.
func (p PlatformHeaders) Set(h http.Header) {
	v := make([]string, 0, PlatformHeaderCount)
	set := func(k, val string) {
		v = append(v, val)
		h[k] = v[len(v)-1 : len(v) : len(v)]
	}
	set("X-Scf-Request-Id", p.RequestID)
	set("X-Scf-Memory", strconv.FormatInt(p.Function.MemorySize, 10))
	set("X-Scf-Timeout", strconv.FormatInt(p.Timeout.Milliseconds(), 10))
	set("X-Scf-Version", p.Function.Version)
	set("X-Scf-Name", p.Function.Name)
	set("X-Scf-Namespace", p.Function.Namespace)
	set("X-Scf-Region", p.Account.Region)
	set("X-Scf-Appid", p.Account.AppID)
	set("X-Scf-Uin", p.Account.UIN)
	if t := p.Credentials; t != nil {
		set("X-Scf-Secret-Id", t.SecretID)
		set("X-Scf-Secret-Key", t.SecretKey)
		set("X-Scf-Session-Token", t.Token)
	}
	if p.TriggerSrc != "" {
		set("X-Scf-Trigger-Src", p.TriggerSrc)
	}
}

// IsPlatformHeader reports whether name is an X-Scf-* header, in any
// case.
func IsPlatformHeader(name string) bool {
	return len(name) >= len(HeaderPrefix) && strings.EqualFold(name[:len(HeaderPrefix)], HeaderPrefix)
}

// PlatformHeaderCount is the most headers Set writes.
const PlatformHeaderCount = 13

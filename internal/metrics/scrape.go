package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Scrapers says who may read the metrics through Guard. The series name
// every tenant's functions, so only the operator may: with a token, or
// with the administrator's key. The zero value lets no one.
type Scrapers struct {
	// Token is accepted as "Authorization: Bearer <Token>"; empty: no
	// token is.
	Token string
	// User and Password are accepted as HTTP Basic credentials (scfd
	// passes the administrator's SecretId and SecretKey, as its registry
	// takes them); empty User: no Basic credentials are.
	User, Password string
}

// realm names what a 401 asks credentials for.
const realm = "scfd metrics"

// Guard serves next to the scrapers s allows and answers anyone else 401
// with a challenge and a short body, none of the metrics. Credentials are
// compared in constant time.
func Guard(next http.Handler, s Scrapers) http.Handler {
	token, user, password := digest(s.Token), digest(s.User), digest(s.Password)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allowed(r, s, token, user, password) {
			next.ServeHTTP(w, r)
			return
		}
		if s.Token != "" {
			w.Header().Add("WWW-Authenticate", `Bearer realm="`+realm+`"`)
		}
		w.Header().Add("WWW-Authenticate", `Basic realm="`+realm+`", charset="UTF-8"`)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte("401 Unauthorized: /metrics needs the administrator's SecretId and SecretKey (Basic) or SCFD_METRICS_TOKEN (Bearer)\n"))
	})
}

// allowed reports whether r carries credentials s allows; token, user
// and password are the digests of s's.
func allowed(r *http.Request, s Scrapers, token, user, password [sha256.Size]byte) bool {
	if s.Token != "" {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if ok && strings.EqualFold(scheme, "Bearer") && same(token, digest(strings.TrimSpace(got))) == 1 {
			return true
		}
	}
	if s.User != "" {
		u, p, ok := r.BasicAuth()
		// Both compared whatever the first says: the time taken tells
		// nothing of which was wrong.
		if ok && same(user, digest(u))&same(password, digest(p)) == 1 {
			return true
		}
	}
	return false
}

// digest hashes a secret so that comparisons take the same time whatever
// the lengths (subtle.ConstantTimeCompare returns at once on lengths that
// differ).
func digest(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// same is 1 when a and b are equal, 0 otherwise, in constant time.
func same(a, b [sha256.Size]byte) int { return subtle.ConstantTimeCompare(a[:], b[:]) }

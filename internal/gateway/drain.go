package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/scfd/scfd/internal/invocation"
)

// ShuttingDown answers the requests that reach the gateway while scfd
// drains: 503 with Retry-After (whole seconds, at least 1) and the
// gateway's JSON error body, on a connection that is then closed, so that
// the client retries elsewhere or after the restart.
func ShuttingDown(retryAfter time.Duration) http.Handler {
	secs := strconv.Itoa(max(1, int(retryAfter/time.Second)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := invocation.NewRequestID()
		h := w.Header()
		h["X-Scf-Request-Id"] = []string{id}
		h.Set("Retry-After", secs)
		h.Set("Connection", "close")
		writeError(w, id, http.StatusServiceUnavailable, invocation.CodeInternal, "scfd is shutting down: retry")
	})
}

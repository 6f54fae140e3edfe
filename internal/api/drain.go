package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// ShuttingDown answers the requests that reach the API while scfd
// drains: HTTP 503 with Retry-After (whole seconds, at least 1) and the
// SCF error ServiceUnavailable in the usual envelope, on a connection
// that is then closed, so that the client retries after the restart.
func ShuttingDown(retryAfter time.Duration) http.Handler {
	secs := strconv.Itoa(max(1, int(retryAfter/time.Second)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Retry-After", secs)
		h.Set("Connection", "close")
		w.WriteHeader(http.StatusServiceUnavailable)
		writeJSON(w, errorEnvelope{Response: errorResponse{
			Error:     errorBody{Code: "ServiceUnavailable", Message: "scfd is shutting down: retry"},
			RequestId: uuid.NewString(),
		}})
	})
}

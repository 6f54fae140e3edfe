// Command hello is an SCF image function: an HTTP server on port 9000 that
// answers event invocations on POST /event-invoke and web requests on any
// other path.
//
// For an event it answers a JSON object with the event it got, the X-Scf-*
// headers (the temporary SecretKey and session token hidden) and a
// greeting; on a web path it greets the caller. It prints one line per
// request to stdout, which scfd collects as the function's log.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
)

func main() {
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "hello"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /event-invoke", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		headers := map[string]string{}
		for k := range r.Header {
			switch lk := strings.ToLower(k); {
			case lk == "x-scf-secret-key" || lk == "x-scf-session-token":
				headers[k] = "(hidden)" // temporary credentials: never echo them
			case strings.HasPrefix(lk, "x-scf-"):
				headers[k] = r.Header.Get(k)
			}
		}
		fmt.Printf("event-invoke %s\n", r.Header.Get("X-Scf-Request-Id"))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"message": greeting,
			"event":   json.RawMessage(orNull(body)),
			"headers": headers,
			"version": os.Getenv("SCF_FUNCTIONVERSION"),
		})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("web %s %s\n", r.Method, r.URL.Path)
		fmt.Fprintf(w, "%s from %s %s\n", greeting, r.Method, r.URL.RequestURI())
	})
	log.Fatal(http.ListenAndServe(":9000", mux))
}

func orNull(b []byte) []byte {
	if !json.Valid(b) {
		b, _ = json.Marshal(string(b))
	}
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

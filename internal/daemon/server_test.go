package daemon

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDrainWaitsForRequestsInFlight: once the drain starts, new requests
// are refused, and wait returns when the request in flight has ended, or
// with ctx's error when ctx ends first.
func TestDrainWaitsForRequestsInFlight(t *testing.T) {
	d := newDrain()
	started, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "served")
	})
	refuse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	srv := httptest.NewServer(d.handler(slow, refuse))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get("/"); code != http.StatusOK {
		t.Fatalf("before the drain: %d", code)
	}

	inFlight := make(chan string, 1)
	go func() {
		res, err := http.Get(srv.URL + "/slow")
		if err != nil {
			inFlight <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		inFlight <- string(b)
	}()
	<-started

	expired, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.wait(expired); !errors.Is(err, context.Canceled) {
		t.Errorf("wait with a request in flight and an ended ctx = %v", err)
	}
	if code, _ := get("/"); code != http.StatusServiceUnavailable {
		t.Errorf("a request during the drain: %d, want 503", code)
	}
	waited := make(chan error, 1)
	go func() { waited <- d.wait(context.Background()) }()
	select {
	case err := <-waited:
		t.Fatalf("wait returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if got := <-inFlight; got != "served" {
		t.Errorf("the request in flight: %q", got)
	}
	if err := <-waited; err != nil {
		t.Errorf("wait: %v", err)
	}
}

// GET /healthz/ready answers 200 when every readiness check passes, 503
// naming the first that does not.
func TestReadiness(t *testing.T) {
	d := &daemon{}
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		d.readiness(rec, httptest.NewRequest("GET", "/healthz/ready", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != 200 || body != "ready\n" {
		t.Errorf("no checks: %d %q", code, body)
	}
	var joined error = errors.New("not joined yet")
	d.ready = append(d.ready, func() error { return nil }, func() error { return joined })
	if code, body := get(); code != 503 || !strings.Contains(body, "not joined yet") {
		t.Errorf("a check failing: %d %q", code, body)
	}
	joined = nil
	if code, _ := get(); code != 200 {
		t.Errorf("every check passing: %d", code)
	}
}

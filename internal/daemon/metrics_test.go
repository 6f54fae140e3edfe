package daemon_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/scfd/scfd/internal/api"
)

// get sends method to url with the Authorization header auth (none when
// empty) and returns the status, the WWW-Authenticate challenges and the
// body.
func get(t *testing.T, method, url, auth string) (int, []string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Values("WWW-Authenticate"), string(body)
}

// basic is an Authorization header of HTTP Basic credentials.
func basic(user, password string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}

// scrape reads the metrics of the API at addr as the administrator.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	code, _, body := get(t, "GET", "http://"+addr+"/metrics", basic(admin.SecretID, admin.SecretKey))
	if code != http.StatusOK {
		t.Fatalf("GET /metrics as the administrator: %d %s", code, body)
	}
	return body
}

// TestMetricsNeedTheOperator: the metrics name every tenant's functions,
// so on the API listener only SCFD_METRICS_TOKEN and the administrator's
// key read them; anyone else, a tenant key included, gets 401 and no
// series. The debug listener serves them without credentials; the
// readiness stays open.
func TestMetricsNeedTheOperator(t *testing.T) {
	needsRunc(t)
	const token = "the operator's scrape token"
	r := serveInProcess(t, map[string]string{"SCFD_METRICS_TOKEN": token, "SCFD_DEBUG_ADDR": "127.0.0.1:0"})
	const fn = "secret-project"
	deploy(t, r.client, r.addrs["registry"], "../../test/e2e/testfunc", fn, "Event")
	ctx := context.Background()
	if err := r.client.Call(ctx, "Invoke", api.InvokeRequest{FunctionName: fn, ClientContext: "{}"}, nil); err != nil {
		t.Fatal(err)
	}
	var created api.CreateKeyResponse
	if err := r.client.Call(ctx, "CreateKey", api.CreateKeyRequest{Namespaces: []string{"default"}, Role: "FullControl"}, &created); err != nil {
		t.Fatal(err)
	}
	tenant := created.Key
	base := "http://" + r.addrs["SCF API"]
	series := `function="` + fn + `"`

	for _, tc := range []struct {
		name, method, path, auth string
	}{
		{"no credentials", "GET", "/metrics", ""},
		{"HEAD, no credentials", "HEAD", "/metrics", ""},
		{"a tenant key of the function's namespace", "GET", "/metrics", basic(tenant.SecretId, tenant.SecretKey)},
		{"a tenant's SecretKey as a token", "GET", "/metrics", "Bearer " + tenant.SecretKey},
		{"the administrator's SecretKey as a token", "GET", "/metrics", "Bearer " + admin.SecretKey},
		{"the administrator's SecretId, a tenant's SecretKey", "GET", "/metrics", basic(admin.SecretID, tenant.SecretKey)},
		{"the token as a Basic password", "GET", "/metrics", basic(admin.SecretID, token)},
		{"another token", "GET", "/metrics", "Bearer " + token + "!"},
		{"a path cleaned to /metrics", "GET", "/./metrics", ""},
		{"a path with a slash more", "GET", "/metrics/", ""},
		{"a path in capitals", "GET", "/METRICS", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, challenges, body := get(t, tc.method, base+tc.path, tc.auth)
			if strings.Contains(body, fn) || strings.Contains(body, "scfd_") {
				t.Fatalf("%d, the metrics shown:\n%.300s", code, body)
			}
			if tc.path != "/metrics" {
				return // answered by the API (or redirected to /metrics): no series is enough
			}
			if code != http.StatusUnauthorized || len(challenges) == 0 {
				t.Errorf("%d, WWW-Authenticate %q; want 401 with a challenge", code, challenges)
			}
		})
	}

	for _, tc := range []struct{ name, url, auth string }{
		{"the token", base + "/metrics", "Bearer " + token},
		{"the administrator's key as Basic credentials", base + "/metrics", basic(admin.SecretID, admin.SecretKey)},
		{"the debug listener, no credentials", "http://" + r.addrs["debug"] + "/metrics", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := get(t, "GET", tc.url, tc.auth)
			if code != http.StatusOK || !strings.Contains(body, series) {
				t.Errorf("%d, want 200 with %s:\n%.300s", code, series, body)
			}
		})
	}

	if code, _, body := get(t, "GET", base+"/healthz/ready", ""); code != http.StatusOK || body != "ready\n" {
		t.Errorf("GET /healthz/ready without credentials: %d %q", code, body)
	}
}

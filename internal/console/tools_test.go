package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/console"
)

type images struct{}

func (images) Repositories(_ context.Context, scope api.Scope) ([]console.Repository, error) {
	all := []console.Repository{{Name: "default/hello", Tags: []string{"v1"}}, {Name: "team/app", Tags: []string{"v1", "v2"}}}
	var out []console.Repository
	for _, r := range all {
		if scope.Allows(strings.Split(r.Name, "/")[0]) {
			out = append(out, r)
		}
	}
	return out, nil
}

// The request tester sends a web function's request through the gateway
// as given (method, path, query, headers, body) and answers what came
// back; a key reaches only its namespaces. The image picker lists what
// the key may pull.
func TestWebRequestsAndImages(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Scf-Request-Id", "rid-1")
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusFound)
		io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Test")+" "+string(body))
	}))
	defer gw.Close()
	e := setup(t, func(o *console.Options) {
		o.GatewayURL, o.Images, o.RegistryHost = gw.URL, images{}, "127.0.0.1:9300"
	})
	team := e.browser(t)
	team.signIn(teamID, teamKey)
	csrf := map[string]string{console.CSRFHeader: team.csrf}
	status, res := team.post("web", `{"Namespace":"team","FunctionName":"app","Qualifier":"prod","Method":"put","Path":"/a b","Query":"x=1",
		"Headers":[{"Name":"X-Test","Value":"yes"}],"Body":"hi"}`, csrf)
	if status != http.StatusOK || res["Status"] != float64(302) || res["RequestId"] != "rid-1" ||
		res["Body"] != "PUT /team/app@prod/a%20b?x=1 yes hi" {
		t.Errorf("web: %d %v", status, res)
	}
	for _, body := range []string{`{"Namespace":"team","FunctionName":"../other/app"}`, `{"Namespace":"team","FunctionName":"app","Qualifier":"x/../../other"}`} {
		if status, res := team.post("web", body, csrf); status != http.StatusBadRequest {
			t.Errorf("%s: %d %v, want 400", body, status, res)
		}
	}
	if status, res := team.post("web", `{"Namespace":"other","FunctionName":"app"}`, csrf); status != http.StatusForbidden {
		t.Errorf("another namespace: %d %v", status, res)
	}
	if status, _ := team.post("web", `{"Namespace":"team","FunctionName":"app"}`, nil); status != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d", status)
	}
	status, res = team.post("images", `{}`, csrf)
	repos, _ := res["Repositories"].([]any)
	if status != http.StatusOK || res["Registry"] != "127.0.0.1:9300" || len(repos) != 1 || repos[0].(map[string]any)["Name"] != "team/app" {
		t.Errorf("images: %d %v", status, res)
	}
	status, res = team.post("settings", `{}`, csrf)
	if status != http.StatusOK || res["GatewayURL"] != gw.URL || res["TimeZone"] == "" {
		t.Errorf("settings: %d %v", status, res)
	}
}

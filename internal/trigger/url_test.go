package trigger

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scfd/scfd/internal/scf"
)

func TestParseURLDesc(t *testing.T) {
	for desc, want := range map[string]string{
		"":                   `{"AuthType":"NONE","NetConfig":{"EnableIntranet":false,"EnableExtranet":true}}`,
		`{"AuthType":"CAM"}`: `{"AuthType":"CAM","NetConfig":{"EnableIntranet":false,"EnableExtranet":true}}`,
		`{"AuthType":"NONE","NetConfig":{"EnableIntranet":false,"EnableExtranet":true}}`: `{"AuthType":"NONE","NetConfig":{"EnableIntranet":false,"EnableExtranet":true}}`,
	} {
		d, err := ParseURLDesc(desc)
		if err != nil || d.String() != want {
			t.Errorf("ParseURLDesc(%q) = %s, %v; want %s", desc, d, err, want)
		}
	}
	for _, bad := range []string{`{`, `{"AuthType":"KEY"}`, `{"NetConfig":{"EnableIntranet":true,"EnableExtranet":true}}`, `{"NetConfig":{"EnableExtranet":false}}`} {
		if _, err := ParseURLDesc(bad); err == nil {
			t.Errorf("ParseURLDesc(%q) accepted", bad)
		}
	}
}

// A function URL runs an event function as an API gateway trigger does,
// hands a web function the request at the trigger's qualifier, checks
// signatures when its AuthType is CAM, and answers 503 when disabled.
func TestFunctionURL(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	createFunction(t, st, "ev", scf.TypeEvent)
	createFunction(t, st, "web", scf.TypeHTTP)
	var authorized []string
	svc, err := Open(ctx, Options{DB: st, Functions: st, Queue: &queue{}, GatewayURL: "http://gw:9200",
		Authorize: func(r *http.Request, body []byte, ns string) error {
			if r.Header.Get("Authorization") != "good" {
				return errors.New("bad signature")
			}
			authorized = append(authorized, ns+":"+string(body))
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*scf.Trigger{
		{Function: "ev", Name: "open", Desc: `{"AuthType":"NONE"}`},
		{Function: "ev", Name: "signed", Desc: `{"AuthType":"CAM"}`},
		{Function: "web", Name: "site", Qualifier: "$LATEST"},
		{Function: "ev", Name: "off"},
	} {
		tr.Namespace, tr.Type, tr.Enabled = "default", scf.TriggerHTTP, tr.Name != "off"
		if err := svc.Create(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	got, err := svc.Get(ctx, "default", "ev", "open")
	if err != nil || got.Desc != `{"AuthType":"NONE","NetConfig":{"EnableIntranet":false,"EnableExtranet":true},"Url":"http://gw:9200/default/ev/url/open/"}` {
		t.Errorf("stored TriggerDesc %q, %v", got.Desc, err)
	}
	if err := svc.Create(ctx, &scf.Trigger{Namespace: "default", Function: "ev", Name: "bad", Type: scf.TriggerHTTP, Desc: `{"AuthType":"KEY"}`}); err == nil {
		t.Error("an unknown AuthType was accepted")
	}

	fn := &mirror{}
	var webPaths []string
	gw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		webPaths = append(webPaths, r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httptest.NewServer(svc.Endpoints(fn, gw))
	defer srv.Close()
	do := func(path, auth, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	if code, body := do("/default/ev/url/open/a/b", "", `{"statusCode":200,"body":"hi"}`); code != 200 || body != "hi" || fn.events[0].Path != "/a/b" {
		t.Errorf("open URL: %d %q, event path %q", code, body, fn.events[0].Path)
	}
	if code, _ := do("/default/ev/url/signed/", "", `{"statusCode":200,"body":"hi"}`); code != http.StatusForbidden || len(fn.events) != 1 {
		t.Errorf("unsigned request to a CAM URL: %d, %d invocations", code, len(fn.events))
	}
	if code, body := do("/default/ev/url/signed/", "good", `{"statusCode":200,"body":"signed"}`); code != 200 || body != "signed" ||
		len(authorized) != 1 || authorized[0] != `default:{"statusCode":200,"body":"signed"}` {
		t.Errorf("signed request: %d %q, authorized %q", code, body, authorized)
	}
	if code, _ := do("/default/web/url/site/x/y?q=1", "", "body"); code != http.StatusTeapot || len(webPaths) != 1 || webPaths[0] != "/default/web@$LATEST/x/y" {
		t.Errorf("web function URL: %d, the gateway saw %q", code, webPaths)
	}
	if code, _ := do("/default/ev/url/off/", "", ""); code != http.StatusServiceUnavailable {
		t.Errorf("disabled URL: %d", code)
	}
	if code, _ := do("/default/ev/apigw/open/", "", ""); code != http.StatusTeapot {
		t.Errorf("an http trigger answered as an apigw one: %d", code)
	}
}

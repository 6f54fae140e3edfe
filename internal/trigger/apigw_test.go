package trigger

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
)

// mirror is an invoker whose function answers the request body as its
// integration response, after recording the event.
type mirror struct{ events []APIGWEvent }

func (m *mirror) Invoke(_ context.Context, r invocation.Request) (*invocation.Result, error) {
	var ev APIGWEvent
	if err := json.Unmarshal(r.Event, &ev); err != nil {
		return nil, err
	}
	m.events = append(m.events, ev)
	if ev.Body == "fail" {
		return &invocation.Result{RetCode: 433, ErrMsg: `{"errorCode":-1,"errorMessage":"Invoking task timed out after 3 seconds","statusCode":433}`}, nil
	}
	return &invocation.Result{RetMsg: ev.Body}, nil
}

func TestAPIGWRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	createFunction(t, st, "ev", scf.TypeEvent)
	svc, stop := run(t, st, &queue{})
	defer stop()
	if err := svc.Create(ctx, &scf.Trigger{Namespace: "default", Function: "ev", Name: "api", Type: scf.TriggerAPIGW, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	fn := &mirror{}
	fallthrough_ := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	srv := httptest.NewServer(svc.Endpoints(fn, fallthrough_))
	defer srv.Close()

	post := func(path, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-Custom", "yes")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	read := func(res *http.Response) string {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return string(b)
	}

	res := post("/default/ev/apigw/api/users/7?x=1&x=2&y=3",
		`{"statusCode":201,"headers":{"Content-Type":"text/plain","X-Multi":["a","b"]},"body":"created","isBase64Encoded":false}`)
	if got := read(res); res.StatusCode != 201 || got != "created" || res.Header.Get("Content-Type") != "text/plain" ||
		strings.Join(res.Header.Values("X-Multi"), ",") != "a,b" || res.Header.Get("X-Scf-Request-Id") == "" {
		t.Errorf("integration response: %d %q %v", res.StatusCode, got, res.Header)
	}
	ev := fn.events[0]
	if ev.HTTPMethod != "POST" || ev.Path != "/users/7" || ev.Headers["x-custom"] != "yes" || ev.QueryStringParameters["y"] != "3" ||
		ev.RequestContext.HTTPMethod != "POST" || ev.RequestContext.RequestID == "" || ev.IsBase64Encoded {
		t.Errorf("event: %+v", ev)
	}
	if xs, _ := ev.QueryString["x"].([]any); len(xs) != 2 {
		t.Errorf("queryString x = %v, want both values", ev.QueryString["x"])
	}

	// The platform's request id wins over the integration response's.
	res = post("/default/ev/apigw/api/", `{"statusCode":200,"headers":{"x-scf-request-id":"forged","X_Scf_Request_Id":["forged"]},"body":"ok"}`)
	read(res)
	if ids := res.Header.Values("X-Scf-Request-Id"); len(ids) != 1 || ids[0] == "forged" || ids[0] != fn.events[len(fn.events)-1].RequestContext.RequestID {
		t.Errorf("X-Scf-Request-Id = %q, want the platform's %q", ids, fn.events[len(fn.events)-1].RequestContext.RequestID)
	}
	if v := res.Header.Values("X_Scf_Request_Id"); len(v) != 0 {
		t.Errorf("X_Scf_Request_Id = %q, want none", v)
	}

	res = post("/default/ev/apigw/api/", `{"statusCode":200,"body":"aGVsbG8=","isBase64Encoded":true}`)
	if got := read(res); got != "hello" {
		t.Errorf("base64 body answered %q", got)
	}
	res = post("/default/ev/apigw/api/", "\xff\xfe binary")
	read(res)
	if last := fn.events[len(fn.events)-1]; !last.IsBase64Encoded || last.Body != "//4gYmluYXJ5" {
		t.Errorf("binary request body: base64=%v body=%q", last.IsBase64Encoded, last.Body)
	}
	for _, bad := range []string{`not json`, `{"body":"no status"}`, `{"statusCode":"200"}`, `{"statusCode":200,"headers":{"A":1}}`, `{"statusCode":200,"body":"!!","isBase64Encoded":true}`} {
		res = post("/default/ev/apigw/api/", bad)
		if got := read(res); res.StatusCode != 403 || got != InvalidResponse {
			t.Errorf("malformed %s: %d %q", bad, res.StatusCode, got)
		}
	}
	res = post("/default/ev/apigw/api/", "fail")
	if got := read(res); res.StatusCode != 200 || !strings.Contains(got, `"statusCode":433`) {
		t.Errorf("failed invocation: %d %q", res.StatusCode, got)
	}
	for _, path := range []string{"/default/ev/apigw/nope/", "/default/other/apigw/api/", "/default/ev/web"} {
		if res := post(path, ""); res.StatusCode != http.StatusTeapot {
			t.Errorf("%s did not fall through: %d", path, res.StatusCode)
		}
	}
}

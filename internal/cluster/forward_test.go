package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// owners is a fixed view that notes the replicas suspected.
type owners struct {
	*View
	mu        sync.Mutex
	suspected []string
}

func (o *owners) Suspect(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.suspected = append(o.suspected, id)
}

// replica is one replica of a test: its internal listener, its public
// gateway (which forwards), and what it served itself.
type replica struct {
	id        string
	owners    *owners
	fwd       *Forwarder
	internal  *httptest.Server
	public    *httptest.Server
	publicAPI *httptest.Server
	served    atomic.Int64 // web requests served here
	invoked   atomic.Int64 // invocations run here
	lastCtx   atomic.Bool  // the last invocation run here was Forwarded
}

func (r *replica) Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
	r.invoked.Add(1)
	r.lastCtx.Store(Forwarded(ctx))
	switch req.Function {
	case "missing":
		return nil, errdefs.NotFound("Function", "function %q not found", req.Function)
	case "asyncrun":
		return nil, invocation.ErrAsyncRun
	}
	return &invocation.Result{RequestID: req.RequestID, RetMsg: r.id + ":" + string(req.Event) + ":" + req.Qualifier + ":" + req.RoutingKey["User"]}, nil
}

// web is the replica's gateway: it forwards what others own and serves
// the rest (echoing the body, and switching protocols when asked).
func (r *replica) web(w http.ResponseWriter, req *http.Request) {
	ns, fn, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	fn, _, _ = strings.Cut(fn, "/")
	if r.fwd.Forward(w, req, ns, fn) {
		return
	}
	r.served.Add(1)
	if req.Header.Get("Upgrade") == "echo" {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "echo")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.Copy(conn, brw)
		return
	}
	body, _ := io.ReadAll(req.Body)
	w.Header().Set("X-Served-By", r.id)
	w.Header().Set("X-Remote", req.RemoteAddr)
	w.Header().Set("X-Peer-Header", req.Header.Get(PeerHeader)+req.Header.Get(KindHeader))
	fmt.Fprintf(w, "%s %s %s", req.Method, req.URL.RequestURI(), body)
}

// api is the replica's API: it forwards the requests of functions others
// own (named by the X-Function header, in namespace ns) and answers the
// rest with who served them and the body.
func (r *replica) api(w http.ResponseWriter, req *http.Request) {
	if r.fwd.ForwardAPI(w, req, "ns", req.Header.Get("X-Function")) {
		return
	}
	r.served.Add(1)
	body, _ := io.ReadAll(req.Body)
	w.Header().Set("X-Served-By", r.id)
	w.Header().Set("X-Remote", req.RemoteAddr)
	w.Header().Set("X-Peer-Header", req.Header.Get(PeerHeader)+req.Header.Get(KindHeader))
	fmt.Fprintf(w, "api %s", body)
}

// cluster starts replicas with the given IDs, all seeing the same
// members; down lists members that are in the view but not listening.
func startCluster(t *testing.T, ids []string, down ...string) map[string]*replica {
	t.Helper()
	rs := map[string]*replica{}
	var ms []Member
	for _, id := range ids {
		r := &replica{id: id}
		r.internal = httptest.NewServer(nil)
		t.Cleanup(r.internal.Close)
		rs[id] = r
		ms = append(ms, Member{ID: id, Addr: r.internal.Listener.Addr().String()})
	}
	for _, id := range down {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, Member{ID: id, Addr: ln.Addr().String()})
		ln.Close() // nothing listens there
	}
	for _, r := range rs {
		r.owners = &owners{View: NewView(r.id, ms)}
		f, err := NewForwarder(ForwarderOptions{Owners: r.owners, Self: r.id, Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		r.fwd = f
		r.internal.Config.Handler = f.Handler(http.HandlerFunc(r.web), http.HandlerFunc(r.api), r)
		r.public = httptest.NewServer(http.HandlerFunc(r.web))
		r.publicAPI = httptest.NewServer(http.HandlerFunc(r.api))
		t.Cleanup(r.publicAPI.Close)
		t.Cleanup(r.public.Close)
	}
	return rs
}

// ownedBy finds a function owned by want in v, whose next owner without
// want is next (any when empty).
func ownedBy(t *testing.T, v *View, want, next string) Key {
	t.Helper()
	for i := range 10000 {
		k := Key{"ns", fmt.Sprintf("fn%d", i)}
		o, _ := v.Owner(k)
		n, _ := v.Next(k, want)
		if o.ID == want && (next == "" || n.ID == next) {
			return k
		}
	}
	t.Fatalf("no key owned by %s", want)
	return Key{}
}

func TestForwardWeb(t *testing.T) {
	rs := startCluster(t, []string{"a", "b"})
	a, b := rs["a"], rs["b"]
	k := ownedBy(t, a.owners.View, "b", "")
	// b's view disagrees (it thinks a owns k): a forwarded request is
	// still served where it lands, never sent back.
	b.owners.View = NewView("b", []Member{{ID: "a", Addr: a.internal.Listener.Addr().String()}})

	resp, err := http.Post(a.public.URL+"/"+k.Namespace+"/"+k.Function+"/some/path?q=1", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "POST /ns/" + k.Function + "/some/path?q=1 hello"; string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if got := resp.Header.Get("X-Served-By"); got != "b" {
		t.Errorf("served by %q, want b", got)
	}
	if got := resp.Header.Get("X-Peer-Header"); got != "" {
		t.Errorf("the gateway saw the internal headers: %q", got)
	}
	if host, _, _ := net.SplitHostPort(resp.Header.Get("X-Remote")); host != "127.0.0.1" {
		t.Errorf("the owner saw the client at %q", resp.Header.Get("X-Remote"))
	}
	if a.served.Load() != 0 || b.served.Load() != 1 {
		t.Errorf("a served %d, b %d; want 0 and 1", a.served.Load(), b.served.Load())
	}

	// A function a owns is served by a.
	own := ownedBy(t, a.owners.View, "a", "")
	resp, err = http.Get(a.public.URL + "/" + own.Namespace + "/" + own.Function + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Served-By"); got != "a" {
		t.Errorf("a function of a's served by %q", got)
	}
}

func TestForwardUpgrade(t *testing.T) {
	rs := startCluster(t, []string{"a", "b"})
	a := rs["a"]
	k := ownedBy(t, a.owners.View, "b", "")
	conn, err := net.Dial("tcp", a.public.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /%s/%s/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", k.Namespace, k.Function)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	for _, msg := range []string{"ping\n", "pong\n"} {
		io.WriteString(conn, msg)
		got, err := br.ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}
	if rs["b"].served.Load() != 1 {
		t.Errorf("b served %d", rs["b"].served.Load())
	}
}

func TestForwardOwnerDown(t *testing.T) {
	rs := startCluster(t, []string{"a", "b"}, "dead")
	a, b := rs["a"], rs["b"]
	for _, next := range []string{"a", "b"} {
		k := ownedBy(t, a.owners.View, "dead", next)
		resp, err := http.Post(a.public.URL+"/"+k.Namespace+"/"+k.Function+"/", "text/plain", strings.NewReader("body for "+next))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("X-Served-By"); got != next || !strings.HasSuffix(string(body), "body for "+next) {
			t.Errorf("owner down, next %s: served by %q: %q", next, got, body)
		}
	}
	if a.served.Load() != 1 || b.served.Load() != 1 {
		t.Errorf("a served %d, b %d; want 1 each", a.served.Load(), b.served.Load())
	}
	if got := strings.Join(a.owners.suspected, ","); got != "dead,dead" {
		t.Errorf("suspected %q", got)
	}

	// The owner and the next are both down: 502, once each.
	rs = startCluster(t, []string{"a"}, "dead1", "dead2")
	a = rs["a"]
	var k Key
	for i := 0; ; i++ {
		k = Key{"ns", fmt.Sprintf("fn%d", i)}
		o, _ := a.owners.Owner(k)
		n, _ := a.owners.Next(k, o.ID)
		if o.ID != "a" && n.ID != "a" {
			break
		}
	}
	resp, err := http.Get(a.public.URL + "/" + k.Namespace + "/" + k.Function + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "could not be reached") {
		t.Errorf("two replicas down: %d %s", resp.StatusCode, body)
	}
	if len(a.owners.suspected) != 1 {
		t.Errorf("suspected %v, want the owner only (the next one is not retried)", a.owners.suspected)
	}
}

func TestInternalListenerRefusesUnsigned(t *testing.T) {
	rs := startCluster(t, []string{"a", "b"})
	b := rs["b"]
	url := b.internal.URL + "/ns/fn/"
	for _, tc := range []struct {
		name string
		sign func(r *http.Request)
	}{
		{"no signature", func(*http.Request) {}},
		{"another secret", func(r *http.Request) { sign(r, []byte("another secret, long enough"), "a", time.Now()) }},
		{"too old", func(r *http.Request) { sign(r, secret, "a", time.Now().Add(-MaxSkew-time.Second)) }},
		{"signed for another path", func(r *http.Request) {
			r2 := r.Clone(context.Background())
			r2.URL.Path = "/other/fn/"
			sign(r2, secret, "a", time.Now())
			r.Header.Set(PeerHeader, r2.Header.Get(PeerHeader))
		}},
		{"garbage", func(r *http.Request) { r.Header.Set(PeerHeader, "a;1;zz") }},
	} {
		for _, kind := range []string{KindWeb, KindInvoke} {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
			req.Header.Set(KindHeader, kind)
			tc.sign(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s, %s: status %d, want 403", tc.name, kind, resp.StatusCode)
			}
		}
	}
	if b.served.Load() != 0 || b.invoked.Load() != 0 {
		t.Errorf("b served %d and invoked %d unsigned requests", b.served.Load(), b.invoked.Load())
	}
}

func TestForwardInvoke(t *testing.T) {
	rs := startCluster(t, []string{"a", "b"}, "dead")
	a, b := rs["a"], rs["b"]
	iv := a.fwd.Invoker(a)
	ctx := context.Background()
	k := ownedBy(t, a.owners.View, "b", "")
	res, err := iv.Invoke(ctx, invocation.Request{
		Namespace: k.Namespace, Function: k.Function, Qualifier: "prod", Event: []byte(`{"x":1}`),
		RoutingKey: map[string]string{"User": "Bob"}, RequestID: "req-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.RetMsg != `b:{"x":1}:prod:Bob` || res.RequestID != "req-1" {
		t.Errorf("result %+v", res)
	}
	if !b.lastCtx.Load() || a.invoked.Load() != 0 {
		t.Errorf("b ran it forwarded=%v; a ran %d", b.lastCtx.Load(), a.invoked.Load())
	}
	// b's own wrapped invoker serves a forwarded call here even if its
	// view names a.
	b.owners.View = NewView("b", []Member{{ID: "a", Addr: a.internal.Listener.Addr().String()}})
	if _, err := iv.Invoke(ctx, invocation.Request{Namespace: k.Namespace, Function: k.Function}); err != nil {
		t.Fatal(err)
	}
	if a.invoked.Load() != 0 || b.invoked.Load() != 2 {
		t.Errorf("a ran %d, b %d", a.invoked.Load(), b.invoked.Load())
	}

	// Errors keep their class and resource.
	b.owners.View = NewView("b", nil)
	for i := 0; ; i++ {
		missing := Key{"ns" + fmt.Sprint(i), "missing"}
		if o, _ := a.owners.Owner(missing); o.ID != "b" {
			continue
		}
		_, err = iv.Invoke(ctx, invocation.Request{Namespace: missing.Namespace, Function: "missing"})
		if !errors.Is(err, errdefs.ErrNotFound) || errdefs.Resource(err) != "Function" || !strings.Contains(err.Error(), `"missing" not found`) {
			t.Errorf("a missing function: %v (resource %q)", err, errdefs.Resource(err))
		}
		break
	}
	for i := 0; ; i++ {
		ar := Key{"ns" + fmt.Sprint(i), "asyncrun"}
		if o, _ := a.owners.Owner(ar); o.ID != "b" {
			continue
		}
		if _, err = iv.Invoke(ctx, invocation.Request{Namespace: ar.Namespace, Function: ar.Function}); !errors.Is(err, invocation.ErrAsyncRun) {
			t.Errorf("a function in async-run mode: %v", err)
		}
		break
	}

	// The owner is down: the next one runs it.
	before := a.invoked.Load() + b.invoked.Load()
	dead := ownedBy(t, a.owners.View, "dead", "")
	if _, err := iv.Invoke(ctx, invocation.Request{Namespace: dead.Namespace, Function: dead.Function}); err != nil {
		t.Fatal(err)
	}
	if a.invoked.Load()+b.invoked.Load() != before+1 {
		t.Error("an invocation of a function of a dead replica did not run once")
	}
}

func TestForwardToADrainingOwner(t *testing.T) {
	rs := startCluster(t, []string{"a", "b"})
	a, b := rs["a"], rs["b"]
	b.internal.Config.Handler = Draining(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	}))
	k := ownedBy(t, a.owners.View, "b", "")
	url := a.public.URL + "/" + k.Namespace + "/" + k.Function + "/"

	// Nothing ran there: a request without a body goes to the next owner.
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Served-By") != "a" {
		t.Errorf("GET while the owner drains: %d, served by %q", resp.StatusCode, resp.Header.Get("X-Served-By"))
	}
	// A body already sent cannot be sent again: the client retries.
	resp, err = http.Post(url, "text/plain", strings.NewReader("once"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || resp.Header.Get(DrainingHeader) != "" {
		t.Errorf("POST while the owner drains: %d %v", resp.StatusCode, resp.Header)
	}
	// An invocation runs on the next owner.
	if _, err := a.fwd.Invoker(a).Invoke(context.Background(), invocation.Request{Namespace: k.Namespace, Function: k.Function}); err != nil {
		t.Fatal(err)
	}
	if a.invoked.Load() != 1 || a.served.Load() != 1 {
		t.Errorf("a invoked %d and served %d, want 1 and 1", a.invoked.Load(), a.served.Load())
	}
}

// An API request of a function another replica owns is served by the
// owner's API, body and client address intact, without the internal
// headers; one of a function this replica owns is served here.
func TestForwardAPI(t *testing.T) {
	rs := startCluster(t, []string{"a", "b"})
	a := rs["a"]
	post := func(fn string) *http.Response {
		req, err := http.NewRequest("POST", a.publicAPI.URL+"/", strings.NewReader(`{"FunctionName":"`+fn+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Function", fn)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	k := ownedBy(t, a.owners.View, "b", "")
	resp := post(k.Function)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `api {"FunctionName":"` + k.Function + `"}`; string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if got := resp.Header.Get("X-Served-By"); got != "b" {
		t.Errorf("served by %q, want b", got)
	}
	if got := resp.Header.Get("X-Peer-Header"); got != "" {
		t.Errorf("the API saw the internal headers: %q", got)
	}
	if host, _, _ := net.SplitHostPort(resp.Header.Get("X-Remote")); host != "127.0.0.1" {
		t.Errorf("the owner saw the client at %q", resp.Header.Get("X-Remote"))
	}
	own := ownedBy(t, a.owners.View, "a", "")
	resp = post(own.Function)
	resp.Body.Close()
	if got := resp.Header.Get("X-Served-By"); got != "a" {
		t.Errorf("a function of a's served by %q", got)
	}
}

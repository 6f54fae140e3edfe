package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
)

type echoed struct {
	Method  string
	Path    string
	RawPath string
	Query   string
	Headers http.Header
	Host    string
	Body    string
}

func TestPathQueryHeadersAndBodyPassThrough(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, func(fn *scf.Function) { fn.MemorySize = 256 })
	for _, prefix := range []string{"/default/" + name, "/default/" + name + "@$LATEST"} {
		t.Run(prefix, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPut, e.url+prefix+"/echo/a%2Fb/c?x=1&y=two", strings.NewReader("the body"))
			req.Header.Set("X-Custom", "kept")
			req.Header.Set("X-Scf-Request-Id", "forged")
			req.Header.Set("x-scf-secret-id", "forged")
			req.Header.Set("X-Scf-Anything", "forged")
			req.Header["X_Scf_Request_Id"] = []string{"forged"}
			req.Header["x_scf_secret_key"] = []string{"forged"}
			req.Header["X-Scf_Name"] = []string{"forged"}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got echoed
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d, decode: %v", resp.StatusCode, err)
			}
			id := resp.Header.Get("X-Scf-Request-Id")
			if got.Method != "PUT" || got.Path != "/echo/a/b/c" || got.RawPath != "/echo/a%2Fb/c" || got.Query != "x=1&y=two" || got.Body != "the body" {
				t.Errorf("the function saw %s %s (%s) ?%s %q", got.Method, got.Path, got.RawPath, got.Query, got.Body)
			}
			h := got.Headers
			if h.Get("X-Custom") != "kept" || h.Get("X-Scf-Anything") != "" {
				t.Errorf("client headers: X-Custom %q, X-Scf-Anything %q", h.Get("X-Custom"), h.Get("X-Scf-Anything"))
			}
			for k := range h {
				if n := strings.ToLower(strings.ReplaceAll(k, "_", "-")); strings.HasPrefix(n, "x-scf-") && strings.Contains(k, "_") {
					t.Errorf("the function saw the client's %s: %q", k, h[k])
				}
			}
			if id == "" || h.Get("X-Scf-Request-Id") != id || len(h["X-Scf-Request-Id"]) != 1 {
				t.Errorf("X-Scf-Request-Id: the function saw %q, the client got %q", h["X-Scf-Request-Id"], id)
			}
			want := map[string]string{
				"X-Scf-Name": name, "X-Scf-Namespace": "default", "X-Scf-Version": "$LATEST", "X-Scf-Memory": "256",
				"X-Scf-Timeout": "3000", "X-Scf-Region": acct.Region, "X-Scf-Appid": acct.AppID, "X-Scf-Uin": acct.UIN,
			}
			for k, v := range want {
				if h.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, h.Get(k), v)
				}
			}
			if s := h.Get("X-Scf-Secret-Id"); s == "" || s == "forged" || h.Get("X-Scf-Session-Token") == "" {
				t.Errorf("temporary credentials: secret id %q, token %q", s, h.Get("X-Scf-Session-Token"))
			}
			if !strings.HasPrefix(got.Host, "127.0.0.1:") || h.Get("X-Forwarded-For") != "127.0.0.1" {
				t.Errorf("Host %q, X-Forwarded-For %q", got.Host, h.Get("X-Forwarded-For"))
			}
			entry := e.logOf(t, name, id)
			if entry.RetCode != 0 || !strings.Contains(entry.Log, "START RequestId:"+id) || !strings.Contains(entry.Log, "StatusCode:200") {
				t.Errorf("log entry: RetCode %d, log:\n%s", entry.RetCode, entry.Log)
			}
			if f, ok := e.rec.of(id); !ok || !f.Billed || f.Function.Name != name || f.Result.BillDuration < 1 {
				t.Errorf("metered %+v (found %v), want a billed request of %s", f, ok, name)
			}
		})
	}
}

func TestServerSentEventsStream(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, func(fn *scf.Function) { fn.Timeout = 10 })
	get(t, e.url+"/default/"+name+"/") // start the instance
	// The second event comes 3 s after the first: the first must reach
	// the client long before.
	start := time.Now()
	resp := get(t, e.url+"/default/"+name+"/sse?n=2&gap_ms=3000")
	r := bufio.NewReader(resp.Body)
	line, err := r.ReadString('\n')
	if err != nil || line != "data: 0\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the first event took %s: it was not streamed", d)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "\ndata: 1\n\n" {
		t.Errorf("rest = %q", rest)
	}
}

func TestDuplexChunkedUpload(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, nil)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/default/"+name+"/duplex", pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || len(resp.TransferEncoding) == 0 {
		t.Fatalf("status %d, transfer encoding %v", resp.StatusCode, resp.TransferEncoding)
	}
	// Each piece comes back before the next is sent: the upload and the
	// answer both stream.
	buf := make([]byte, 64)
	for _, piece := range []string{"ping one", "ping two"} {
		if _, err := io.WriteString(pw, piece); err != nil {
			t.Fatal(err)
		}
		n, err := io.ReadAtLeast(resp.Body, buf, len(piece))
		if err != nil || string(buf[:n]) != piece {
			t.Fatalf("read back %q, %v; want %q", buf[:n], err, piece)
		}
	}
	pw.Close()
	if rest, _ := io.ReadAll(resp.Body); len(rest) != 0 {
		t.Errorf("after the end: %q", rest)
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, nil)
	conn, r := wsDial(t, e, name)
	for _, msg := range []string{"hello", "again"} {
		wsEcho(t, conn, r, msg)
	}
}

// wsDial opens a WebSocket session with function name through the
// gateway.
func wsDial(t *testing.T, e *realEnv, name string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(conn, "GET /default/"+name+"/ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ||
		resp.Header.Get("X-Scf-Request-Id") == "" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	return conn, r
}

// wsEcho sends msg on the session and reads the function's echo.
func wsEcho(t *testing.T, conn net.Conn, r *bufio.Reader, msg string) {
	t.Helper()
	io.WriteString(conn, msg)
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v; want %q", buf, err, msg)
	}
}

// A WebSocket function's session lives while messages pass, and is closed
// once nothing passed for its WSParams.IdleTimeOut; the session is one
// invocation, logged with its length.
func TestWebSocketIdleTimeout(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, func(fn *scf.Function) {
		fn.Protocol = scf.Protocol{Type: scf.ProtocolWS, WSIdleTimeout: 1}
		fn.Timeout = 60
	})
	conn, r := wsDial(t, e, name)
	start := time.Now()
	for i := range 4 { // 1.6 s of messages 400 ms apart: longer than the idle timeout
		wsEcho(t, conn, r, fmt.Sprint("message ", i))
		time.Sleep(400 * time.Millisecond)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the function sent something unasked")
	}
	lived := time.Since(start)
	if lived < 2*time.Second || lived > 10*time.Second {
		t.Errorf("the session lived %v: want about 1.6 s of messages and 1 s idle", lived)
	}
}

func TestRequestsShareAnInstanceUpToMaxConcurrency(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, func(fn *scf.Function) { fn.Concurrency.MaxConcurrency = 3 })
	get(t, e.url+"/default/"+name+"/") // start one instance
	type answer struct {
		ID          string
		MaxInFlight int
	}
	var wg sync.WaitGroup
	answers := make([]answer, 3)
	for i := range answers {
		wg.Go(func() {
			resp, err := http.Get(e.url + "/default/" + name + "/sleep?ms=1000")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			json.NewDecoder(resp.Body).Decode(&answers[i])
		})
	}
	wg.Wait()
	for _, a := range answers {
		if a.ID != answers[0].ID || a.MaxInFlight != 3 {
			t.Errorf("answers %+v: want one instance serving 3 at once", answers)
			break
		}
	}
}

func TestErrors(t *testing.T) {
	e := newRealEnv(t)
	web := e.function(t, func(fn *scf.Function) { fn.Timeout = 1 })
	event := e.function(t, func(fn *scf.Function) { fn.Type = scf.TypeEvent })
	creating := e.function(t, func(fn *scf.Function) { fn.Status = scf.StatusCreating })
	for _, tc := range []struct {
		name, path string
		status     int
		code       int // statusCode of the body, and RetCode of the log when logged
		logged     bool
	}{
		{"no function", "/", http.StatusBadRequest, invocation.CodeInternal, false},
		{"unknown function", "/default/nope/x", http.StatusNotFound, 404, false},
		{"unknown version", "/default/" + web + "@7/x", http.StatusNotFound, 404, false},
		{"event function", "/default/" + event + "/", http.StatusNotFound, 404, false},
		{"not Active", "/default/" + creating + "/", http.StatusConflict, 409, false},
		{"timeout", "/default/" + web + "/sleep?ms=3000", http.StatusGatewayTimeout, invocation.CodeTimeout, true},
		{"process exit", "/default/" + web + "/exit", http.StatusBadGateway, invocation.CodeProcessExit, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, e.url+tc.path)
			var body struct {
				ErrorCode    int
				ErrorMessage string
				RequestID    string
				StatusCode   int
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("status %d, body: %v", resp.StatusCode, err)
			}
			id := resp.Header.Get("X-Scf-Request-Id")
			if resp.StatusCode != tc.status || body.StatusCode != tc.code || body.RequestID != id || id == "" || body.ErrorMessage == "" ||
				resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("got %d %+v (request id %q), want %d with code %d", resp.StatusCode, body, id, tc.status, tc.code)
			}
			if tc.logged {
				if entry := e.logOf(t, web, id); entry.RetCode != tc.code {
					t.Errorf("logged RetCode %d, want %d", entry.RetCode, tc.code)
				}
			}
		})
	}
	// A 5xx answer of the function is its own: passed on, logged as 430.
	resp := get(t, e.url+"/default/"+web+"/status?code=503")
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || string(b) != "status 503" {
		t.Errorf("function's 503: got %d %q", resp.StatusCode, b)
	}
	if entry := e.logOf(t, web, resp.Header.Get("X-Scf-Request-Id")); entry.RetCode != invocation.CodeUserError {
		t.Errorf("function's 503 logged with RetCode %d", entry.RetCode)
	}
}

package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

func errNotFound(name string) error {
	return errdefs.NotFound("Function", "function %s not found", name)
}

var acct = sandbox.Account{Region: "ap-guangzhou", AppID: "1250000000", UIN: "100000000001"}

// memLogs keeps entries in memory.
type memLogs struct {
	mu      sync.Mutex
	entries []logs.Entry
}

func (m *memLogs) Begin(e logs.Entry) {}

func (m *memLogs) Put(ctx context.Context, e logs.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	return nil
}

func TestHeadersBodyAndResult(t *testing.T) {
	var gotHeaders http.Header
	var gotBody, gotPath, gotMethod string
	var lease *fakeLease
	lease, fns := fakeSetup(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotHeaders, gotBody, gotPath, gotMethod = r.Header.Clone(), string(b), r.URL.Path, r.Method
		lease.print("hello from the function")
		io.WriteString(w, `{"ok":true}`)
	})
	lease.cold = &pool.ColdStart{Total: 50 * time.Millisecond, ImageCheck: time.Millisecond}
	iss := credentials.NewIssuer(credentials.IssuerOptions{})
	ml := &memLogs{}
	iv := New(Options{Functions: fns, Instances: &fakeInstances{lease: lease}, Logs: ml, Credentials: iss, Account: acct})
	res, err := iv.Invoke(context.Background(), invocation.Request{Function: "fn", Event: []byte(`{"k":"v"}`), LogTail: true, TriggerSrc: "timer", RequestID: "req-1"})
	if err != nil {
		t.Fatal(err)
	}
	if gotMethod != "POST" || gotPath != "/event-invoke" || gotBody != `{"k":"v"}` {
		t.Errorf("request %s %s %q", gotMethod, gotPath, gotBody)
	}
	want := map[string]string{
		"X-Scf-Request-Id": "req-1", "X-Scf-Memory": "128", "X-Scf-Timeout": "3000", "X-Scf-Version": "$LATEST",
		"X-Scf-Name": "fn", "X-Scf-Namespace": "default", "X-Scf-Region": "ap-guangzhou", "X-Scf-Appid": "1250000000",
		"X-Scf-Uin": "100000000001", "X-Scf-Trigger-Src": "timer", "Content-Type": "application/json",
	}
	for k, v := range want {
		if got := gotHeaders.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	tmp, err := iss.Lookup(gotHeaders.Get("X-Scf-Secret-Id"))
	if err != nil {
		t.Fatalf("the credentials sent are not the issuer's: %v", err)
	}
	if tmp.SecretKey != gotHeaders.Get("X-Scf-Secret-Key") || tmp.Token != gotHeaders.Get("X-Scf-Session-Token") || tmp.Namespace != "default" {
		t.Errorf("credentials %+v do not match the headers", tmp)
	}
	if d := tmp.Expires.Sub(time.Now()); d < 3*time.Second || d > 3*time.Second+invocation.CredentialMargin {
		t.Errorf("credentials expire in %v, want about Timeout + %v", d, invocation.CredentialMargin)
	}
	if res.RetCode != 0 || res.InvokeResult != 0 || res.RetMsg != `{"ok":true}` || res.ErrMsg != "" || res.RequestID != "req-1" {
		t.Errorf("result %+v", res)
	}
	if res.MemUsage != 7<<20 || res.BillDuration != int64(ceil(res.Duration)) || res.BillDuration < 1 || !res.Cold {
		t.Errorf("result numbers: MemUsage %d Duration %v BillDuration %d Cold %v", res.MemUsage, res.Duration, res.BillDuration, res.Cold)
	}
	lines := strings.Split(strings.TrimSuffix(res.Log, "\n"), "\n")
	patterns := []string{
		`^START RequestId:req-1$`,
		`^Init Report RequestId:req-1 InitDuration:50ms Path:create ImageCheck:1ms .*Memory:128MB$`,
		`^hello from the function$`,
		`^Response RequestId:req-1 RetMsg:"\{\\"ok\\":true\}"$`,
		`^END RequestId:req-1$`,
		`^Report RequestId:req-1 Duration:[0-9.]+ms Memory:128MB MemUsage:7MB$`,
	}
	if len(lines) != len(patterns) {
		t.Fatalf("log has %d lines, want %d:\n%s", len(lines), len(patterns), res.Log)
	}
	for i, p := range patterns {
		if !regexp.MustCompile(p).MatchString(lines[i]) {
			t.Errorf("log line %d = %q, want %s", i, lines[i], p)
		}
	}
	if len(ml.entries) != 1 || ml.entries[0].Log != res.Log || ml.entries[0].RequestID != "req-1" || ml.entries[0].InvokeFinished != 1 {
		t.Errorf("log entries %+v", ml.entries)
	}
	if d := cmp.Diff([]pool.Outcome{pool.Healthy}, lease.outcomes); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
}

func ceil(f float64) float64 {
	i := float64(int64(f))
	if i < f {
		return i + 1
	}
	return i
}

func TestNon2xxIsUserError(t *testing.T) {
	lease, fns := fakeSetup(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "it broke")
	})
	iv := New(Options{Functions: fns, Instances: &fakeInstances{lease: lease}})
	res, err := iv.Invoke(context.Background(), invocation.Request{Function: "fn", LogTail: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.RetCode != invocation.CodeUserError || res.InvokeResult != invocation.CodeUserError || res.RetMsg != "it broke" || res.ErrMsg != "it broke" {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(res.Log, "ERROR RequestId:"+res.RequestID+" Result:it broke") {
		t.Errorf("log lacks the ERROR line:\n%s", res.Log)
	}
	if d := cmp.Diff([]pool.Outcome{pool.Healthy}, lease.outcomes); d != "" {
		t.Errorf("a 502 answer broke the instance (-want +got):\n%s", d)
	}
}

func TestResponseTooLarge(t *testing.T) {
	lease, fns := fakeSetup(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := strings.Repeat("x", 1<<20)
		for range 7 {
			io.WriteString(w, chunk)
		}
	})
	iv := New(Options{Functions: fns, Instances: &fakeInstances{lease: lease}})
	res, err := iv.Invoke(context.Background(), invocation.Request{Function: "fn"})
	if err != nil {
		t.Fatal(err)
	}
	if res.RetCode != invocation.CodeResponseTooLarge || !strings.Contains(res.ErrMsg, "exceeds the upper limit (6MB)") || !strings.Contains(res.ErrMsg, `"statusCode":407`) {
		t.Errorf("result %+v", res)
	}
}

func TestEventChecks(t *testing.T) {
	lease, fns := fakeSetup(t, func(w http.ResponseWriter, r *http.Request) {})
	iv := New(Options{Functions: fns, Instances: &fakeInstances{lease: lease}})
	big := []byte(`"` + strings.Repeat("a", invocation.MaxSyncEventBytes) + `"`)
	tests := []struct {
		name     string
		req      invocation.Request
		class    error
		resource string
	}{
		{"not json", invocation.Request{Function: "fn", Event: []byte("{not json")}, errdefs.ErrInvalidArgument, "ClientContext"},
		{"over 6 MB", invocation.Request{Function: "fn", Event: big}, errdefs.ErrInvalidArgument, "RequestTooLarge"},
		{"async over 128 KB", invocation.Request{Function: "fn", Async: true, Event: big[:200<<10]}, errdefs.ErrInvalidArgument, "RequestTooLarge"},
		{"unknown function", invocation.Request{Function: "nope"}, errdefs.ErrNotFound, "Function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := iv.Invoke(context.Background(), tt.req)
			if !errors.Is(err, tt.class) || errdefs.Resource(err) != tt.resource {
				t.Errorf("err = %v (resource %q), want %v with resource %s", err, errdefs.Resource(err), tt.class, tt.resource)
			}
		})
	}
	if len(lease.outcomes) != 0 {
		t.Errorf("an instance was used: %v", lease.outcomes)
	}
}

func TestNotActive(t *testing.T) {
	lease, fns := fakeSetup(t, func(w http.ResponseWriter, r *http.Request) {})
	fns["default/fn/$LATEST"].Status = scf.StatusCreating
	iv := New(Options{Functions: fns, Instances: &fakeInstances{lease: lease}})
	_, err := iv.Invoke(context.Background(), invocation.Request{Function: "fn"})
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || errdefs.Resource(err) != "FunctionStatusError" {
		t.Errorf("err = %v, want FailedPrecondition FunctionStatusError", err)
	}
}

func TestAcquireFailures(t *testing.T) {
	_, fns := fakeSetup(t, func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		name    string
		err     error
		code    int
		errText string
	}{
		{"concurrency", errdefs.New(errdefs.ErrResourceExhausted, "Concurrency", "Function [ fn ] concurrency exceeded reserved quota 128 MB"), invocation.CodeConcurrency, "concurrency exceeded reserved quota"},
		{"image", errdefs.NotFound("Image", "image sha256:ab is not in the local cache"), invocation.CodeImage, "not in the local cache"},
		{"exit before listening", fmt.Errorf("start: %w", &sandbox.ExitError{Reason: sandbox.ExitReason{Kind: sandbox.ExitCode, Code: 3}, LastLines: []string{"bye"}}), invocation.CodeInitError, "exited with code 3 before listening; last output:\nbye"},
		{"start-up check", errdefs.New(errdefs.ErrUnavailable, "", scf.StartupTimeoutMessage), invocation.CodePortBinding, scf.StartupTimeoutMessage},
		{"other", errors.New("disk on fire"), invocation.CodeInternal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ml := &memLogs{}
			iv := New(Options{Functions: fns, Instances: &fakeInstances{err: tt.err}, Logs: ml})
			res, err := iv.Invoke(context.Background(), invocation.Request{Function: "fn"})
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				ErrorMessage string `json:"errorMessage"`
				StatusCode   int    `json:"statusCode"`
			}
			if err := json.Unmarshal([]byte(res.ErrMsg), &body); err != nil {
				t.Fatalf("ErrMsg %q is not SCF's JSON error: %v", res.ErrMsg, err)
			}
			if res.RetCode != tt.code || body.StatusCode != tt.code || !strings.Contains(body.ErrorMessage, tt.errText) {
				t.Errorf("RetCode %d, ErrMsg %s; want %d containing %q", res.RetCode, res.ErrMsg, tt.code, tt.errText)
			}
			if len(ml.entries) != 1 || ml.entries[0].RetCode != tt.code {
				t.Errorf("log entries %+v", ml.entries)
			}
		})
	}
	// The start-up check's message is exactly SCF's, naming the port.
	iv := New(Options{Functions: fns, Instances: &fakeInstances{err: errdefs.New(errdefs.ErrUnavailable, "", scf.StartupTimeoutMessage)}})
	res, _ := iv.Invoke(context.Background(), invocation.Request{Function: "fn"})
	if !strings.Contains(res.ErrMsg, `"errorMessage":"`+scf.StartupTimeoutMessage+`"`) {
		t.Errorf("ErrMsg %s lacks the exact start-up message", res.ErrMsg)
	}
	fns["default/fn/$LATEST"].Image.ImagePort = 8080
	onPort := "The request timed out in 30000ms.Please confirm your http server have enabled listening on port 8080."
	iv = New(Options{Functions: fns, Instances: &fakeInstances{err: errdefs.New(errdefs.ErrUnavailable, "", "%s", onPort)}})
	res, _ = iv.Invoke(context.Background(), invocation.Request{Function: "fn"})
	if res.RetCode != invocation.CodePortBinding || !strings.Contains(res.ErrMsg, `"errorMessage":"`+onPort+`"`) {
		t.Errorf("ImagePort 8080: RetCode %d, ErrMsg %s; want 446 naming port 8080", res.RetCode, res.ErrMsg)
	}
}

func TestCallerGivesUp(t *testing.T) {
	block := make(chan struct{})
	lease, fns := fakeSetup(t, func(w http.ResponseWriter, r *http.Request) { <-block })
	defer close(block)
	fns["default/fn/$LATEST"].Timeout = 30
	iv := New(Options{Functions: fns, Instances: &fakeInstances{lease: lease}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err := iv.Invoke(ctx, invocation.Request{Function: "fn"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := cmp.Diff([]pool.Outcome{pool.Broken}, lease.outcomes); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
}

func TestResolveQualifier(t *testing.T) {
	for in, want := range map[string]string{"": "$LATEST", "$DEFAULT": "$DEFAULT", "$LATEST": "$LATEST", "3": "3"} {
		if got := invocation.ResolveQualifier(in); got != want {
			t.Errorf("ResolveQualifier(%q) = %q, want %q", in, got, want)
		}
	}
}

type recorder struct{ got []invocation.Finished }

func (r *recorder) Record(_ context.Context, f invocation.Finished) { r.got = append(r.got, f) }

func TestRecorderSeesBilledAndRefusedCalls(t *testing.T) {
	lease, fns := fakeSetup(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	rec := &recorder{}
	iv := New(Options{Functions: fns, Instances: &fakeInstances{lease: lease}, Recorder: rec})
	res, err := iv.Invoke(context.Background(), invocation.Request{Function: "fn", RetryNum: 2})
	if err != nil {
		t.Fatal(err)
	}
	refused := New(Options{Functions: fns, Instances: &fakeInstances{err: errdefs.New(errdefs.ErrResourceExhausted, "Concurrency", "over")}, Recorder: rec})
	if _, err := refused.Invoke(context.Background(), invocation.Request{Function: "fn"}); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 2 {
		t.Fatalf("recorded %d invocations, want 2", len(rec.got))
	}
	if f := rec.got[0]; !f.Billed || f.Result != res || f.RetryNum != 2 || f.Function.Name != "fn" {
		t.Errorf("a served call: %+v", f)
	}
	if f := rec.got[1]; f.Billed || f.Result.RetCode != invocation.CodeConcurrency {
		t.Errorf("a refused call: billed %v, code %d", f.Billed, f.Result.RetCode)
	}
}

// The first request of a provisioned instance is warm: no Init Report,
// not a cold start for the recorder.
func TestProvisionedFirstRequestIsNotCold(t *testing.T) {
	lease, fns := fakeSetup(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	lease.cold = &pool.ColdStart{Provisioned: true}
	rec := &recorder{}
	iv := New(Options{Functions: fns, Instances: &fakeInstances{lease: lease}, Recorder: rec})
	res, err := iv.Invoke(context.Background(), invocation.Request{Function: "fn", LogTail: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Cold || strings.Contains(res.Log, "Init Report") {
		t.Errorf("cold %v, log:\n%s", res.Cold, res.Log)
	}
	if len(rec.got) != 1 || rec.got[0].Cold != nil {
		t.Errorf("the recorder saw %+v, want one warm invocation", rec.got)
	}
}

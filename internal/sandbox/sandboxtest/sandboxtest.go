package sandboxtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// Options tune Run.
type Options struct {
	// Account is the driver's account, to check the built-in variables.
	Account sandbox.Account
	// FullStartupTimeout also runs one start-up that waits the real 30 s.
	FullStartupTimeout bool
	// Skip names cases that cannot apply to the driver, each with the
	// reason, which the test log shows.
	Skip map[string]string
}

var seq atomic.Int64

type suite struct {
	d    sandbox.Driver
	img  Image
	opts Options
}

// spec returns a spec of the test image with a fresh id.
func (s *suite) spec(t *testing.T) sandbox.Spec {
	return sandbox.Spec{
		ID:        fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e6, seq.Add(1)),
		Namespace: "default", Function: "conformance", Version: "$LATEST",
		Layers: s.img.Layers, Image: s.img.Config, MemoryMB: 128,
	}
}

// start starts spec and stops the instance when the test ends.
func (s *suite) start(t *testing.T, spec sandbox.Spec) sandbox.Instance {
	t.Helper()
	in, err := s.d.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := in.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return in
}

func get(t *testing.T, in sandbox.Instance, path string) (string, error) {
	t.Helper()
	c := http.Client{Timeout: 60 * time.Second}
	resp, err := c.Get("http://" + in.Addr() + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return string(b), err
}

type envReply struct {
	Env      []string
	Args     []string
	Hostname string
	Cwd      string
	UID      int
}

func getEnv(t *testing.T, in sandbox.Instance) envReply {
	t.Helper()
	body, err := get(t, in, "/env")
	if err != nil {
		t.Fatal(err)
	}
	var r envReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// Run checks that d behaves as a sandbox.Driver must. The subtests run in
// parallel; each stops its instances.
func Run(t *testing.T, d sandbox.Driver, img Image, opts Options) {
	s := &suite{d: d, img: img, opts: opts}
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Environment", s.testEnvironment},
		{"CommandAndArgs", s.testCommandAndArgs},
		{"ImageUserAndWorkdir", s.testImageUser},
		{"WritableLayer", s.testWritableLayer},
		{"OOMKill", s.testOOM},
		{"Stats", s.testStats},
		{"WrongPortTimesOut", s.testWrongPort},
		{"SlowStart", s.testSlowStart},
		{"ExitAtOnce", s.testExitAtOnce},
		{"ExitCode", s.testExitCode},
		{"Logs", s.testLogs},
		{"StopAndStates", s.testStop},
	}
	if opts.FullStartupTimeout {
		tests = append(tests, struct {
			name string
			fn   func(*testing.T)
		}{"FullStartupTimeout", s.testFullTimeout})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if reason, ok := opts.Skip[tt.name]; ok {
				t.Skip(reason)
			}
			t.Parallel()
			tt.fn(t)
		})
	}
}

func (s *suite) testEnvironment(t *testing.T) {
	spec := s.spec(t)
	spec.Function, spec.Version = "hello", "3"
	spec.Env = []scf.Variable{{Key: "FN_VAR", Value: "a b=c"}, {Key: "SHARED", Value: "function"}, {Key: "USER", Value: "mine"}}
	in := s.start(t, spec)
	r := getEnv(t, in)
	want := []string{
		"IMAGE_VAR=from-image", "SHARED=function", "FN_VAR=a b=c",
		"TENCENTCLOUD_RUNENV=SCF", "USER_CODE_ROOT=/var/user/", "USER=qcloud",
		"SCF_FUNCTIONNAME=hello", "SCF_FUNCTIONVERSION=3",
		"TENCENTCLOUD_REGION=" + s.opts.Account.Region,
		"TENCENTCLOUD_APPID=" + s.opts.Account.AppID,
		"TENCENTCLOUD_UIN=" + s.opts.Account.UIN,
	}
	for _, kv := range want {
		if !slices.Contains(r.Env, kv) {
			t.Errorf("environment lacks %q; have %q", kv, r.Env)
		}
	}
	if r.Hostname != spec.ID {
		t.Errorf("hostname = %q, want %q", r.Hostname, spec.ID)
	}
	hosts, err := get(t, in, "/read?path=/etc/hosts")
	if err != nil || !strings.Contains(hosts, spec.ID) {
		t.Errorf("/etc/hosts = %q, %v; want a line for %s", hosts, err, spec.ID)
	}
	if resolv, err := get(t, in, "/read?path=/etc/resolv.conf"); err != nil || !strings.Contains(resolv, "nameserver") {
		t.Errorf("/etc/resolv.conf = %q, %v", resolv, err)
	}
}

func (s *suite) testCommandAndArgs(t *testing.T) {
	tests := []struct {
		name, command, args string
		want                []string
	}{
		{"image", "", "", []string{"/server", "-listen", ":9000"}},
		{"args", "", `-say 'hello world' -listen :9000`, []string{"/server", "-say", "hello world", "-listen", ":9000"}},
		{"command keeps the image's cmd", `/server -say "from command"`, "", []string{"/server", "-say", "from command", "-listen", ":9000"}},
		{"both", `/server -say x`, `-listen 0.0.0.0:9000`, []string{"/server", "-say", "x", "-listen", "0.0.0.0:9000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := s.spec(t)
			spec.Command, spec.Args = tt.command, tt.args
			r := getEnv(t, s.start(t, spec))
			if !slices.Equal(r.Args, tt.want) {
				t.Errorf("argv = %q, want %q", r.Args, tt.want)
			}
		})
	}
}

func (s *suite) testImageUser(t *testing.T) {
	spec := s.spec(t)
	spec.Image.User = "nobody"
	spec.Image.WorkingDir = "/tmp"
	r := getEnv(t, s.start(t, spec))
	if r.UID != 65534 || r.Cwd != "/tmp" {
		t.Errorf("uid %d cwd %q, want 65534 /tmp", r.UID, r.Cwd)
	}
}

// A 256 MB function writes 400 MB to /tmp; the layer stops at 512 MB.
func (s *suite) testWritableLayer(t *testing.T) {
	spec := s.spec(t)
	spec.MemoryMB = 256
	in := s.start(t, spec)
	if out, err := get(t, in, "/write?mb=400&path=/tmp/a"); err != nil {
		t.Fatalf("write 400 MB: %v", err)
	} else if !strings.Contains(out, "wrote 400 MB") {
		t.Fatalf("write 400 MB: %q", out)
	}
	out, err := get(t, in, "/write?mb=200&path=/tmp/b")
	if err == nil || !strings.Contains(out, "no space left on device") {
		t.Fatalf("write past 512 MB: %q, %v; want no space left on device", out, err)
	}
	select {
	case <-in.Exited():
		t.Fatalf("instance exited: %v", in.ExitReason())
	default:
	}
}

func (s *suite) testOOM(t *testing.T) {
	spec := s.spec(t)
	spec.MemoryMB = 64
	in := s.start(t, spec)
	if out, err := get(t, in, "/alloc?mb=256"); err == nil {
		t.Fatalf("allocating 256 MB in a 64 MB instance succeeded: %q", out)
	}
	select {
	case <-in.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("instance still running")
	}
	if r := in.ExitReason(); r.Kind != sandbox.ExitOOM {
		t.Errorf("exit reason = %v, want out of memory", r)
	}
	if err := in.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := in.State(); st != sandbox.Gone {
		t.Errorf("state = %s, want gone", st)
	}
}

func (s *suite) testStats(t *testing.T) {
	spec := s.spec(t)
	spec.MemoryMB = 256
	in := s.start(t, spec)
	if _, err := get(t, in, "/alloc?mb=64"); err != nil {
		t.Fatal(err)
	}
	st, err := in.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.MemoryBytes < 64<<20 || st.MemoryPeakBytes < st.MemoryBytes || st.MemoryPeakBytes > 256<<20 {
		t.Errorf("stats = %+v, want 64 MB ≤ current ≤ peak ≤ 256 MB", st)
	}
	if err := in.ResetPeak(); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, in, "/alloc?mb=32"); err != nil {
		t.Fatal(err)
	}
	st2, err := in.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st2.MemoryPeakBytes < st2.MemoryBytes || st2.MemoryBytes < st.MemoryBytes+32<<20-(8<<20) {
		t.Errorf("after reset and 32 MB more: %+v (before %+v)", st2, st)
	}
}

// wantTimeout checks a start-up that timed out on port: SCF's message
// naming the port, after the budget.
func wantTimeout(t *testing.T, err error, took, budget time.Duration, port int) {
	t.Helper()
	if err == nil {
		t.Fatal("Start succeeded")
	}
	if want := scf.StartupTimeoutText(port); err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("error class: %v is not unavailable", err)
	}
	if took < budget || took > budget+10*time.Second {
		t.Errorf("took %v with a budget of %v", took, budget)
	}
}

func (s *suite) testWrongPort(t *testing.T) {
	spec := s.spec(t)
	spec.Port = 9001
	spec.StartupTimeout = time.Second
	t0 := time.Now()
	_, err := s.d.Start(context.Background(), spec)
	wantTimeout(t, err, time.Since(t0), spec.StartupTimeout, 9001)
}

func (s *suite) testSlowStart(t *testing.T) {
	t.Run("too slow", func(t *testing.T) {
		spec := s.spec(t)
		spec.Args = "-sleep 1m"
		spec.StartupTimeout = time.Second
		t0 := time.Now()
		_, err := s.d.Start(context.Background(), spec)
		wantTimeout(t, err, time.Since(t0), spec.StartupTimeout, scf.DefaultPort)
	})
	t.Run("in time", func(t *testing.T) {
		spec := s.spec(t)
		spec.Args = "-sleep 300ms"
		spec.StartupTimeout = 10 * time.Second
		in := s.start(t, spec)
		if p := in.Phases(); p.Ready < 300*time.Millisecond {
			t.Errorf("ready after %v, the server sleeps 300ms first", p.Ready)
		}
	})
}

func (s *suite) testFullTimeout(t *testing.T) {
	spec := s.spec(t)
	spec.Args = "-sleep 1h"
	t0 := time.Now()
	_, err := s.d.Start(context.Background(), spec)
	wantTimeout(t, err, time.Since(t0), scf.StartupTimeout, scf.DefaultPort)
}

func (s *suite) testExitAtOnce(t *testing.T) {
	spec := s.spec(t)
	spec.Args = "-say boom -exit 3"
	t0 := time.Now()
	_, err := s.d.Start(context.Background(), spec)
	took := time.Since(t0)
	var ee *sandbox.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error = %v, want an *ExitError", err)
	}
	if ee.Reason.Kind != sandbox.ExitCode || ee.Reason.Code != 3 {
		t.Errorf("reason = %v, want exit code 3", ee.Reason)
	}
	if !slices.Contains(ee.LastLines, "boom") || !strings.Contains(err.Error(), "code 3") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("error %q: want the exit code and the output", err)
	}
	if took > 10*time.Second {
		t.Errorf("took %v", took)
	}
}

func (s *suite) testExitCode(t *testing.T) {
	in := s.start(t, s.spec(t))
	get(t, in, "/exit?code=7")
	select {
	case <-in.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("instance still running")
	}
	if r := in.ExitReason(); r.Kind != sandbox.ExitCode || r.Code != 7 {
		t.Errorf("exit reason = %v, want code 7", r)
	}
}

func (s *suite) testLogs(t *testing.T) {
	var mu sync.Mutex
	var lines []sandbox.LogLine
	got := make(chan struct{}, 100)
	spec := s.spec(t)
	spec.Args = "-say started -listen :9000"
	spec.Logs = func(l sandbox.LogLine) {
		mu.Lock()
		lines = append(lines, l)
		mu.Unlock()
		got <- struct{}{}
	}
	in := s.start(t, spec)
	if _, err := get(t, in, "/print?n=3&text=hello"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for n := 0; n < 5; n++ {
		select {
		case <-got:
		case <-deadline:
			t.Fatalf("got %d lines: %+v", n, lines)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var texts []string
	for _, l := range lines {
		if l.Instance != spec.ID || l.Time.IsZero() {
			t.Errorf("line %+v: want instance %s and a time", l, spec.ID)
		}
		texts = append(texts, string(l.Stream)+":"+l.Text)
	}
	for _, w := range []string{"stdout:started", "stderr:started", "stdout:hello 0", "stdout:hello 2"} {
		if !slices.Contains(texts, w) {
			t.Errorf("lines %q lack %q", texts, w)
		}
	}
}

func (s *suite) testStop(t *testing.T) {
	in, err := s.d.Start(context.Background(), s.spec(t))
	if err != nil {
		t.Fatal(err)
	}
	if st := in.State(); st != sandbox.Ready {
		t.Errorf("state after Start = %s, want ready", st)
	}
	for _, st := range []sandbox.State{sandbox.Busy, sandbox.Idle, sandbox.Busy} {
		if err := in.SetState(st); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.SetState(sandbox.Gone); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("SetState(gone) = %v, want failed precondition", err)
	}
	if err := in.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.Exited():
	default:
		t.Fatal("Exited not closed after Stop")
	}
	if r := in.ExitReason(); r.Kind != sandbox.ExitStopped {
		t.Errorf("exit reason = %v, want stopped", r)
	}
	if st := in.State(); st != sandbox.Gone {
		t.Errorf("state = %s, want gone", st)
	}
	if err := in.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := get(t, in, "/env"); err == nil {
		t.Error("server still answers after Stop")
	}
}

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/daemon/daemontest"
)

// TestBadKeyBodiesAreNotRead sends 64 concurrent requests of 10 MB each,
// with an unknown SecretId, a malformed Authorization or a stale
// timestamp, to a real `scfd serve`, and checks that each is refused with
// SCF's AuthFailure code and that the server's peak memory does not grow
// by anything near what the bodies weigh (640 MB): their bodies are never
// read.
func TestBadKeyBodiesAreNotRead(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	bin := buildScfd(t)
	ann := &daemontest.Announcements{}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"SCFD_DATA_DIR="+t.TempDir(),
		"SCFD_API_ADDR=127.0.0.1:0", "SCFD_GATEWAY_ADDR=127.0.0.1:0", "SCFD_REGISTRY_ADDR=127.0.0.1:0",
		"SCFD_PREPARED_MAX_MEMORY=0",
	)
	cmd.Stdout, cmd.Stderr = ann, ann
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	})
	api := ann.WaitListening(t, exited)["SCF API"]

	const size, n = 10 << 20, 64
	body := bytes.Repeat([]byte("x"), size)
	now := time.Now().UTC()
	auth := func(id string, at time.Time) (string, string) {
		return fmt.Sprintf("TC3-HMAC-SHA256 Credential=%s/%s/scf/tc3_request, SignedHeaders=content-type;host, Signature=%064x", id, at.Format(time.DateOnly), 1),
			strconv.FormatInt(at.Unix(), 10)
	}
	type attempt struct{ authorization, timestamp, wantCode string }
	kinds := []attempt{}
	a, ts := auth("AKIDnobody", now)
	kinds = append(kinds, attempt{a, ts, "AuthFailure.SecretIdNotFound"})
	kinds = append(kinds, attempt{"Basic YWRtaW46YWRtaW4=", ts, "AuthFailure.InvalidAuthorization"})
	a, ts = auth("AKIDnobody", now.Add(-time.Hour))
	kinds = append(kinds, attempt{a, ts, "AuthFailure.SignatureExpire"})

	// send writes one request and its body (the write may fail once the
	// server answered and closed) and returns the answer's error code.
	send := func(k attempt) (string, error) {
		conn, err := net.Dial("tcp", api)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-TC-Action: ListFunctions\r\nX-TC-Version: 2018-04-16\r\nX-TC-Timestamp: %s\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n",
			api, k.timestamp, k.authorization, size)
		go conn.Write(body)
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		var envelope struct {
			Response struct{ Error struct{ Code string } }
		}
		data, _ := io.ReadAll(res.Body)
		if err := json.Unmarshal(data, &envelope); err != nil {
			return "", fmt.Errorf("HTTP %d %q: %w", res.StatusCode, data, err)
		}
		return envelope.Response.Error.Code, nil
	}
	// Warm up, so that what the server allocates on its first requests
	// is in the baseline.
	for _, k := range kinds {
		if code, err := send(k); err != nil || code != k.wantCode {
			t.Fatalf("warm-up: %q %v, want %s", code, err, k.wantCode)
		}
	}
	before := peakRSS(t, cmd.Process.Pid)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		k := kinds[i%len(kinds)]
		wg.Go(func() {
			code, err := send(k)
			if err == nil && code != k.wantCode {
				err = fmt.Errorf("code %q, want %s", code, k.wantCode)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	after := peakRSS(t, cmd.Process.Pid)
	t.Logf("peak RSS of scfd serve: %d MB before, %d MB after %d requests of %d MB", before>>20, after>>20, n, size>>20)
	if grew := after - before; grew > 32<<20 {
		t.Errorf("the peak RSS grew by %d MB: the bodies were read", grew>>20)
	}
}

// peakRSS is the peak resident set size of process pid (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

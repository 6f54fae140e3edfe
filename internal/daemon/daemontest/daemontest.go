// Package daemontest runs `scfd serve` (daemon.Run) inside a test's
// process, on ephemeral loopback ports and a fresh data directory, for
// the tests and benchmarks that need a whole server: the CLI's, the
// benchmarks of test/bench. It also reads the lines a server announces
// (its listeners), for tests that run `scfd serve` as a process.
package daemontest

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/daemon"
	"github.com/scfd/scfd/internal/tc3"
	"github.com/scfd/scfd/internal/tlscert"
)

// Announcements collects what a server tells the person who started it.
// It is safe for concurrent use.
type Announcements struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (a *Announcements) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.Write(p)
}

// String is everything announced so far.
func (a *Announcements) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.String()
}

var listening = regexp.MustCompile(`scfd: (.+) listening on (\S+)`)

// Addrs returns the listeners announced so far by name ("SCF API",
// "gateway", "registry").
func (a *Announcements) Addrs() map[string]string {
	out := map[string]string{}
	for _, m := range listening.FindAllStringSubmatch(a.String(), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// WaitListening waits until the server announced its three listeners
// (and the debug listener, when it has one), failing tb after 30 s or when
// exited is closed first.
func (a *Announcements) WaitListening(tb testing.TB, exited <-chan struct{}) map[string]string {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		addrs := a.Addrs()
		if addrs["SCF API"] != "" && addrs["gateway"] != "" && addrs["registry"] != "" {
			return addrs
		}
		select {
		case <-exited:
			tb.Fatalf("scfd serve stopped; it said:\n%s", a.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("scfd serve did not listen in 30 s; it said:\n%s", a.String())
		}
	}
}

// Server is a `scfd serve` running in the test's process.
type Server struct {
	Dir   string            // its data directory
	Addrs map[string]string // its listeners by name
	Key   credentials.Key   // the administrator's key
	// Client is an API client signing with Key.
	Client *client.Client
	// Scheme is how the listeners speak: "https" with SCFD_TLS or
	// SCFD_TLS_CERT, else "http".
	Scheme string
	// HTTP is an HTTP client of the listeners, trusting the server's
	// self-signed authority with SCFD_TLS=self-signed.
	HTTP *http.Client
	// Stop stops the server as SIGTERM does and waits for it (once; later
	// calls return the same).
	Stop func() error
}

// Serve starts scfd serve with env added to its settings (SCFD_* names)
// and stops it when tb ends. The server logs warnings to standard error.
func Serve(tb testing.TB, env map[string]string) *Server {
	tb.Helper()
	dir := tb.TempDir()
	all := map[string]string{
		"SCFD_DATA_DIR":      dir,
		"SCFD_API_ADDR":      "127.0.0.1:0",
		"SCFD_GATEWAY_ADDR":  "127.0.0.1:0",
		"SCFD_REGISTRY_ADDR": "127.0.0.1:0",
	}
	for k, v := range env {
		all[k] = v
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Flags(fs, func(k string) string { return all[k] })
	c, err := config.Load(fs)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ann := &Announcements{}
	exited := make(chan struct{})
	var runErr error
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() {
		runErr = daemon.Run(ctx, c, log, ann)
		close(exited)
	}()
	var once sync.Once
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case <-exited:
			case <-time.After(2 * time.Minute):
				runErr = context.DeadlineExceeded
			}
		})
		return runErr
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("scfd serve: %v", err)
		}
	})
	addrs := ann.WaitListening(tb, exited)
	key, err := credentials.LoadAdmin(c.DataDir)
	if err != nil {
		tb.Fatal(err)
	}
	srv := &Server{Dir: c.DataDir, Addrs: addrs, Key: key, Stop: stop, Scheme: "http", HTTP: http.DefaultClient}
	if c.TLS.Enabled() {
		srv.Scheme = "https"
		if c.TLS.SelfSigned {
			pool, err := tlscert.Pool(filepath.Join(config.TLSDir(c.DataDir), tlscert.CAFile))
			if err != nil {
				tb.Fatal(err)
			}
			srv.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		}
	}
	srv.Client = client.New(srv.Scheme+"://"+addrs["SCF API"], tc3.Credential{SecretID: key.SecretID, SecretKey: key.SecretKey}, client.WithHTTPClient(srv.HTTP))
	return srv
}

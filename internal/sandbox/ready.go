package sandbox

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// WaitReady is the start-up check every driver runs: it connects to addr
// (host:port, the port the function's server listens on) every poll
// until the server accepts, the process ends (exited closes: the error
// is then exitErr's), ctx ends, or budget passes (an error of class
// errdefs.ErrUnavailable with exactly scf.StartupTimeoutText of the port).
func WaitReady(ctx context.Context, addr string, poll, budget time.Duration, exited <-chan struct{}, exitErr func() error) error {
	port := scf.DefaultPort
	if _, p, err := net.SplitHostPort(addr); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	deadline := time.NewTimer(budget)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	dialer := net.Dialer{Timeout: 100 * time.Millisecond}
	for {
		c, err := dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return errdefs.New(errdefs.ErrUnavailable, "", "%s", scf.StartupTimeoutText(port))
		case <-exited:
			return exitErr()
		case <-tick.C:
		}
	}
}

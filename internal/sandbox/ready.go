package sandbox

import (
	"context"
	"net"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// WaitReady is the start-up check every driver runs: it connects to addr
// every poll until the server accepts, the process ends (exited closes:
// the error is then exitErr's), ctx ends, or budget passes (an error of
// class errdefs.ErrUnavailable with exactly scf.StartupTimeoutMessage).
func WaitReady(ctx context.Context, addr string, poll, budget time.Duration, exited <-chan struct{}, exitErr func() error) error {
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
			return errdefs.New(errdefs.ErrUnavailable, "", "%s", scf.StartupTimeoutMessage)
		case <-exited:
			return exitErr()
		case <-tick.C:
		}
	}
}

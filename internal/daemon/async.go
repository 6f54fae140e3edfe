package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/scfd/scfd/internal/async"
	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/gateway"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/store"
)

// startAsync opens the queue of asynchronous invocations over inv's
// invoker, requeueing the events a previous run left unfinished.
// Close the queue before inv: running attempts go back to the queue.
func startAsync(ctx context.Context, log *slog.Logger, st *store.Store, inv *invocation) (*async.Queue, error) {
	q, err := async.Open(ctx, async.Options{Store: st, Functions: st, Invoker: inv.invoker, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open the asynchronous queue: %w", err)
	}
	return q, nil
}

// newGateway builds the gateway of web functions over inv's pool.
func newGateway(c *config.Config, log *slog.Logger, st *store.Store, inv *invocation, rec gateway.Recorder) *gateway.Gateway {
	var instances gateway.Instances = unavailable{err: errors.New("the instance runtime did not start")}
	if inv.pool != nil {
		instances = inv.pool
	}
	return gateway.New(gateway.Options{
		Functions:   st,
		Resolver:    inv.invoker,
		Instances:   instances,
		Logs:        inv.logs,
		Recorder:    rec,
		Credentials: inv.issuer,
		Account:     sandbox.Account{Region: c.Region, AppID: c.AppID, UIN: c.UIN},
		Logger:      log,
	})
}

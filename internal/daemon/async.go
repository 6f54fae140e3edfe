package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/async"
	"github.com/scfd/scfd/internal/gateway"
	"github.com/scfd/scfd/internal/store"
)

// startAsync opens the queue of asynchronous invocations over inv's
// invoker, requeueing the events a previous run left unfinished, and
// registers its actions on s, Invoke with InvocationType Event included.
// Close the queue before inv: running attempts go back to the queue.
func startAsync(ctx context.Context, log *slog.Logger, st *store.Store, inv *dataPlane, s *api.Server) (*async.Queue, error) {
	q, err := async.Open(ctx, async.Options{Store: st, Functions: st, Invoker: inv.invoker, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open the asynchronous queue: %w", err)
	}
	api.RegisterInvoke(s, api.InvokeOptions{Invoker: inv.invoker, Queue: q})
	api.RegisterAsync(s, q)
	return q, nil
}

// newGateway builds the gateway of web functions over inv's engine.
func newGateway(log *slog.Logger, st *store.Store, inv *dataPlane) *gateway.Gateway {
	return gateway.New(gateway.Options{Functions: st, Engine: inv.invoker, Logger: log})
}

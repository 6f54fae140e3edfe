package daemon

import (
	"log/slog"

	"github.com/scfd/scfd/internal/gateway"
	"github.com/scfd/scfd/internal/store"
)

// newGateway builds the gateway of web functions over inv's engine.
func newGateway(log *slog.Logger, st *store.Store, inv *dataPlane, fwd gateway.Forwarder) *gateway.Gateway {
	return gateway.New(gateway.Options{Functions: st, Engine: inv.invoker, Forwarder: fwd, Logger: log})
}

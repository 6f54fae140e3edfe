package daemon

import (
	"errors"
	"log/slog"

	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/gateway"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/store"
)

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

package daemon

import (
	"context"
	"log/slog"

	"github.com/scfd/scfd/internal/api"
)

// forgetter is something that drops what it holds of a deleted function.
type forgetter interface {
	Forget(ctx context.Context, namespace, name string) error
}

// forgetFunc adapts a function to forgetter.
type forgetFunc func(ctx context.Context, namespace, name string) error

func (f forgetFunc) Forget(ctx context.Context, namespace, name string) error {
	return f(ctx, namespace, name)
}

// lifecycle is the API's Deployer: image pulls go to the deployer; a
// deleted function is also forgotten by everything else that holds
// something of it (instances, triggers, metrics).
type lifecycle struct {
	api.Deployer
	others []forgetter
	log    *slog.Logger
}

// Forget tells the deployer, then the others, that a function is gone.
func (l *lifecycle) Forget(namespace, name string) {
	l.Deployer.Forget(namespace, name)
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	for _, o := range l.others {
		if err := o.Forget(ctx, namespace, name); err != nil {
			l.log.Warn("forgetting a deleted function", "namespace", namespace, "function", name, "err", err)
		}
	}
}

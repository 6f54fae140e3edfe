package daemon

import (
	"context"
	"log/slog"
	"time"
)

// The check that a signature serves only the actions it was first used
// for (tc3.Replays) is shared by the replicas of one PostgreSQL database
// through the store's record of signature uses; on SQLite one process
// owns the database and its memory suffices.

// SignatureExpiryInterval is how often each replica deletes the shared
// records of signatures past their expiry: one DELETE over an index.
const SignatureExpiryInterval = time.Minute

// SignatureExpiryMargin is how long past its expiry a record is kept, for
// replicas whose clocks are behind the one that deletes it: a replica
// accepts a signature until its own clock says it expired.
const SignatureExpiryMargin = time.Minute

// signatureExpirer deletes the records of signatures that expired before
// t; *store.Store is one.
type signatureExpirer interface {
	ExpireSignatures(ctx context.Context, t time.Time) (int64, error)
}

// expireSignatures deletes, every interval until ctx ends, the records
// of signatures that expired more than SignatureExpiryMargin ago.
func expireSignatures(ctx context.Context, st signatureExpirer, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if _, err := st.ExpireSignatures(ctx, now.Add(-SignatureExpiryMargin)); err != nil && ctx.Err() == nil {
				log.Warn("deleting the expired records of the replay check", "err", err)
			}
		}
	}
}

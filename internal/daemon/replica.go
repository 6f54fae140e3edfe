package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// replicaFile keeps, in the data directory, the name of a server whose
// SCFD_REPLICA_ID is not set.
const replicaFile = "replica-id"

// replicaID is this server's name among the replicas sharing its
// database: SCFD_REPLICA_ID, else a name made at the first start and kept
// in the data directory, so that a server restarted on its data directory
// is the same replica (it runs again at once the async events it was
// running when it died, instead of waiting for their leases).
func replicaID(configured, dataDir string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	path := filepath.Join(dataDir, replicaFile)
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading the replica name: %w", err)
	}
	id := newReplicaName()
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keeping the replica name: %w", err)
	}
	return id, nil
}

// replicaName is replicaID of this server, worked out once.
func (d *daemon) replicaName() (string, error) {
	if d.replica == "" {
		id, err := replicaID(d.c.ReplicaID, d.c.DataDir)
		if err != nil {
			return "", err
		}
		d.replica = id
	}
	return d.replica, nil
}

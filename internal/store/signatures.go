package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// The uses of request signatures: which actions each signature served,
// for the check that a signature serves only the actions it was first
// used for (tc3.Replays), shared by the replicas on one database so that
// a request captured at one cannot be replayed as another action at
// another. A row is keyed by the signature (the caller's key of it, such
// as its first 16 bytes) and kept until its expiry; the rule of which
// action may be added is the caller's. The statements run outside the
// store's transactions: they take no advisory lock and announce nothing,
// and each is atomic by itself (an upsert, a compare-and-swap).

// ClaimSignature returns the record of the signature key: the actions it
// served, in the order they were added, and the client address and time
// of its first use. When key has no record, it first records one of
// action, from client at now, kept until expires (see ExpireSignatures):
// then it returns just that. Of replicas claiming one new signature at
// once, exactly one records it and all get its record. It is one
// statement, one round trip to the database.
func (s *Store) ClaimSignature(ctx context.Context, key []byte, action, client string, now, expires time.Time) (actions []string, firstClient string, firstUse time.Time, err error) {
	first, _ := json.Marshal([]string{action})
	// On a conflict the update changes nothing, but returns the record
	// that holds the key (DO NOTHING would return no row), waiting for a
	// concurrent AddSignatureAction of it to commit.
	var doc string
	var at int64
	err = s.db.QueryRowContext(ctx, `INSERT INTO signature_uses (signature, actions, client, first_use, expires)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (signature) DO UPDATE SET expires = signature_uses.expires
		RETURNING actions, client, first_use`,
		key, string(first), client, now.UnixNano(), expires.UnixNano()).Scan(&doc, &firstClient, &at)
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("store: claiming a signature: %w", err)
	}
	if err := json.Unmarshal([]byte(doc), &actions); err != nil {
		return nil, "", time.Time{}, fmt.Errorf("store: a signature's damaged actions %q: %w", doc, err)
	}
	return actions, firstClient, unixNano(at), nil
}

// AddSignatureAction appends action to the actions of key's record if
// they are still served (a compare-and-swap), and reports whether it did:
// of replicas adding to the same actions at once, exactly one does, and
// the others read the record again. A key without a record adds nothing.
func (s *Store) AddSignatureAction(ctx context.Context, key []byte, served []string, action string) (bool, error) {
	was, _ := json.Marshal(served)
	next, _ := json.Marshal(append(served[:len(served):len(served)], action))
	res, err := s.db.ExecContext(ctx, `UPDATE signature_uses SET actions = ? WHERE signature = ? AND actions = ?`,
		string(next), key, string(was))
	if err != nil {
		return false, fmt.Errorf("store: adding an action to a signature: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: adding an action to a signature: %w", err)
	}
	return n == 1, nil
}

// ExpireSignatures deletes the records of signatures that expired before
// t, and returns how many it deleted. One statement over an index: any
// replica may run it, as often as once a minute.
func (s *Store) ExpireSignatures(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM signature_uses WHERE expires < ?`, t.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("store: deleting expired signatures: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: deleting expired signatures: %w", err)
	}
	return n, nil
}

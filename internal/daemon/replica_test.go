package daemon

import "testing"

// Without SCFD_REPLICA_ID, a server restarted on its data directory is the
// same replica; another data directory is another replica.
func TestReplicaIDIsKeptInTheDataDir(t *testing.T) {
	dir := t.TempDir()
	first, err := replicaID("", dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := replicaID("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if first == "" || again != first {
		t.Errorf("restarted on its data directory: %q, then %q", first, again)
	}
	other, err := replicaID("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if other == first {
		t.Errorf("two data directories share the name %q", first)
	}
	if got, _ := replicaID("named", dir); got != "named" {
		t.Errorf("SCFD_REPLICA_ID named: %q", got)
	}
}

package credentials

import (
	"os"
	"testing"
)

func TestEnsureAdminCreatesOnceWithMode0600(t *testing.T) {
	dir := t.TempDir()
	k, created, err := EnsureAdmin(dir, Key{})
	if err != nil || !created {
		t.Fatalf("first EnsureAdmin: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := EnsureAdmin(dir, Key{})
	if err != nil || created || k2 != k {
		t.Errorf("second EnsureAdmin: %+v created=%v err=%v, want the same key", k2, created, err)
	}
	given := Key{SecretID: "AKIDgiven", SecretKey: "k"}
	if k3, _, _ := EnsureAdmin(dir, given); k3 != given {
		t.Errorf("given key not used: %+v", k3)
	}
}

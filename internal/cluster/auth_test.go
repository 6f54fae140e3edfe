package cluster

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadSecret(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadSecret(dir, "")
	if err != nil || string(again) != string(first) || len(first) < MinSecretBytes {
		t.Fatalf("the generated secret is not kept: %q then %q (%v)", first, again, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, SecretFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file: %v, %v", fi.Mode(), err)
	}
	if got, err := LoadSecret(dir, "a secret given by the operator"); err != nil || string(got) != "a secret given by the operator" {
		t.Errorf("given secret: %q, %v", got, err)
	}
	if _, err := LoadSecret(dir, "short"); err == nil {
		t.Error("a short secret was accepted")
	}
}

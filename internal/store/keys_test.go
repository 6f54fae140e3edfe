package store

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

func TestKeysLifecycleSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	if err := s.CreateNamespace(ctx, scf.Namespace{Name: "team"}); err != nil {
		t.Fatal(err)
	}
	k := scf.Key{SecretID: "AKIDa", SecretKey: "secret", Description: "ci", Namespaces: []string{"team"}, Role: scf.RoleInvoke}
	if _, err := s.CreateKey(ctx, scf.Key{SecretID: "AKIDb", SecretKey: "x", Namespaces: []string{"nope"}, Role: scf.RoleReadOnly}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("CreateKey of an unknown namespace: %v, want ErrNotFound", err)
	}
	created, err := s.CreateKey(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey(ctx, k); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("CreateKey twice: %v, want ErrAlreadyExists", err)
	}
	if err := s.DeleteNamespace(ctx, "team"); !errors.Is(err, errdefs.ErrInUse) {
		t.Fatalf("DeleteNamespace named by a key: %v, want ErrInUse", err)
	}
	updated, err := s.UpdateKey(ctx, "AKIDa", func(k *scf.Key) error {
		k.Disabled = true
		k.SecretKey = "changed" // ignored
		return nil
	})
	if err != nil || !updated.Disabled || updated.SecretKey != "secret" {
		t.Fatalf("UpdateKey = %+v, %v", updated, err)
	}

	s.Close()
	s = openTest(t, dir)
	got, err := s.GetKey(ctx, "AKIDa")
	if err != nil {
		t.Fatal(err)
	}
	want := created
	want.Disabled, want.ModTime = true, updated.ModTime
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	all, err := s.ListKeys(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("ListKeys = %v, %v", all, err)
	}
	if err := s.DeleteKey(ctx, "AKIDa"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetKey(ctx, "AKIDa"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("GetKey after delete: %v", err)
	}
	if err := s.DeleteKey(ctx, "AKIDa"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("DeleteKey twice: %v", err)
	}
	if err := s.DeleteNamespace(ctx, "team"); err != nil {
		t.Fatalf("DeleteNamespace once no key names it: %v", err)
	}
}

package store

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

func TestPublishListDeleteVersions(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	fn := newFunction("default", "hello")
	fn.ImageDigest = "sha256:aaa"
	if err := s.CreateFunction(ctx, fn); err != nil {
		t.Fatal(err)
	}
	v1, err := s.PublishVersion(ctx, "default", "hello", "first")
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != "1" || v1.ImageDigest != "sha256:aaa" || v1.Description != "first" {
		t.Errorf("version 1: %+v", v1)
	}
	if _, err := s.UpdateFunction(ctx, "default", "hello", scf.Latest, func(f *scf.Function) error {
		f.ImageDigest, f.MemorySize = "sha256:bbb", 512
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	v2, err := s.PublishVersion(ctx, "default", "hello", "second")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetFunction(ctx, "default", "hello", "1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ImageDigest != "sha256:aaa" || got.MemorySize != 128 {
		t.Errorf("version 1 changed with $LATEST: %+v", got)
	}
	if v2.Version != "2" || v2.ImageDigest != "sha256:bbb" {
		t.Errorf("version 2: %+v", v2)
	}
	list, err := s.ListVersions(ctx, "default", "hello")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range list {
		names = append(names, v.Version)
	}
	if diff := cmp.Diff([]string{"$LATEST", "1", "2"}, names); diff != "" {
		t.Errorf("ListVersions (-want +got):\n%s", diff)
	}
	digests, _ := s.ImageDigests(ctx)
	if !digests["sha256:aaa"] || !digests["sha256:bbb"] {
		t.Errorf("ImageDigests misses a version's image: %v", digests)
	}

	if err := s.DeleteVersion(ctx, "default", "hello", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetFunction(ctx, "default", "hello", "2"); !errors.Is(err, errdefs.ErrNotFound) || errdefs.Resource(err) != "Version" {
		t.Errorf("deleted version: %v", err)
	}
	v3, err := s.PublishVersion(ctx, "default", "hello", "")
	if err != nil || v3.Version != "3" {
		t.Errorf("a deleted version's number was reused: %+v, %v", v3, err)
	}
	if err := s.DeleteVersion(ctx, "default", "hello", scf.Latest); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("deleting $LATEST alone: %v", err)
	}
}

func TestPublishNeedsAnActiveFunction(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	fn := newFunction("default", "pulling")
	fn.Status = scf.StatusCreating
	if err := s.CreateFunction(ctx, fn); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishVersion(ctx, "default", "pulling", ""); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("publishing a Creating function: %v", err)
	}
	if _, err := s.PublishVersion(ctx, "default", "ghost", ""); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("publishing a missing function: %v", err)
	}
}

func TestAliases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	if err := s.CreateFunction(ctx, newFunction("default", "hello")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.PublishVersion(ctx, "default", "hello", ""); err != nil {
			t.Fatal(err)
		}
	}
	prod := &scf.Alias{Namespace: "default", Function: "hello", Name: "prod", FunctionVersion: "1",
		Routing: scf.RoutingConfig{AdditionalVersionWeights: []scf.VersionWeight{{Version: "2", Weight: 0.3}}}}
	if err := s.CreateAlias(ctx, prod); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAlias(ctx, prod); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("duplicate alias: %v", err)
	}
	bad := &scf.Alias{Namespace: "default", Function: "hello", Name: "x", FunctionVersion: "9"}
	if err := s.CreateAlias(ctx, bad); !errors.Is(err, errdefs.ErrNotFound) || errdefs.Resource(err) != "FunctionVersion" {
		t.Errorf("alias to a missing version: %v", err)
	}
	for _, v := range []string{"1", "2"} {
		if err := s.DeleteVersion(ctx, "default", "hello", v); !errors.Is(err, errdefs.ErrInUse) {
			t.Errorf("deleting version %s routed by an alias: %v", v, err)
		}
	}
	prod.FunctionVersion, prod.Routing = "2", scf.RoutingConfig{}
	if err := s.UpdateAlias(ctx, prod); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVersion(ctx, "default", "hello", "1"); err != nil {
		t.Errorf("version 1 is no longer routed: %v", err)
	}

	s.Close()
	s = openTest(t, dir)
	got, err := s.GetAlias(ctx, "default", "hello", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if got.FunctionVersion != "2" || len(got.Routing.AdditionalVersionWeights) != 0 || got.AddTime.IsZero() {
		t.Errorf("alias after reopen: %+v", got)
	}
	list, err := s.ListAliases(ctx, "default", "hello")
	if err != nil || len(list) != 1 {
		t.Errorf("ListAliases: %v, %v", list, err)
	}
	if _, err := s.GetAlias(ctx, "default", "ghost", "prod"); errdefs.Resource(err) != "Function" {
		t.Errorf("alias of a missing function: %v", err)
	}
	if err := s.DeleteFunction(ctx, "default", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFunction(ctx, newFunction("default", "hello")); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListAliases(ctx, "default", "hello"); len(list) != 0 {
		t.Errorf("aliases outlived their function: %v", list)
	}
	if v, err := s.PublishVersion(ctx, "default", "hello", ""); err != nil || v.Version != "1" {
		t.Errorf("a new function with the same name starts at version 1: %+v %v", v, err)
	}
	if err := s.DeleteAlias(ctx, "default", "hello", "prod"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("deleting a missing alias: %v", err)
	}
}

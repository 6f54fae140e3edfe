package main

import (
	_ "github.com/containerd/containerd/v2/pkg/archive"
	_ "github.com/containernetworking/cni/libcni"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/shlex"
	_ "github.com/opencontainers/runtime-spec/specs-go"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "modernc.org/sqlite"
	_ "github.com/moby/profiles/seccomp"
	_ "github.com/containerd/go-runc"
	_ "github.com/klauspost/compress/zstd"
	_ "golang.org/x/sync/singleflight"
	_ "golang.org/x/sys/unix"
)

func main() {}

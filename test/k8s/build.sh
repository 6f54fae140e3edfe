#!/usr/bin/env bash
# Builds the Kubernetes binaries of the test cluster once, from the Go module
# proxy, into a cache outside the repository keyed by version:
#   $SCFD_K8S_CACHE/v1.34.4/bin/{kube-apiserver,...}
# A later run finds them and returns at once. The scratch module that pins
# them is test/k8s/tools (go.mod, go.sum, a tools-tagged file).
set -euo pipefail
cd "$(dirname "$0")/tools"
K8S_VERSION="$(awk '/^require k8s.io\/kubernetes /{print $3}' go.mod)"
CACHE="${SCFD_K8S_CACHE:-/var/cache/scfd-k8s}/$K8S_VERSION"
BIN="$CACHE/bin"
CMDS="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kube-proxy"

missing=""
for c in $CMDS; do [ -x "$BIN/$c" ] || missing="$missing $c"; done
if [ -z "$missing" ]; then
	echo "k8s $K8S_VERSION binaries cached in $BIN"
	exit 0
fi

minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	LD="$LD -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
mkdir -p "$BIN.tmp"
for c in $missing; do
	echo "building $c $K8S_VERSION (cold: about 12 min for all on 2 cores)"
	start=$(date +%s)
	GOFLAGS=-mod=readonly go build -trimpath -ldflags "$LD" -o "$BIN.tmp/$c" "k8s.io/kubernetes/cmd/$c"
	echo "built $c in $(( $(date +%s) - start )) s"
done
mkdir -p "$BIN"
for c in $missing; do mv "$BIN.tmp/$c" "$BIN/$c"; done
rmdir "$BIN.tmp"
echo "k8s $K8S_VERSION binaries in $BIN"

#!/usr/bin/env bash
# `make test-k8s`: scfd's Kubernetes backend against a real single-node
# cluster on this machine. Installs the system packages the cluster needs,
# builds the Kubernetes binaries once (build.sh; cached outside the repo, a
# cold build takes about 12 min on 2 cores, later runs seconds), brings the
# cluster up (up.sh), runs the k8s-tagged tests (the sandbox conformance
# suite on k8srt, the SDK end-to-end tests of `scfd serve --backend
# kubernetes` on this machine, and the same SDK tests against scfd deployed
# inside the cluster from deploy/kubernetes) and the cold-start benchmark, and tears everything down in a
# trap (down.sh), then checks that the host is as before.
#
# Environment: SCFD_K8S_CACHE (default /var/cache/scfd-k8s), SCFD_K8S_STATE
# (default /run/scfd-k8s), SCFD_K8S_BENCH=0 skips the benchmarks. With
# --bench (`make bench`) it runs the benchmarks only: the cold start of
# k8srt, and deploy/kubernetes with 3 replicas against 1.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
if [ "$(id -u)" -ne 0 ]; then
	echo "test-k8s: needs root (it runs a kubelet and containerd)" >&2
	exit 1
fi

missing=()
for p in containerd etcd-server conntrack openssl curl postgresql; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "test-k8s: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
./scripts/deps.sh --test

"$HERE/build.sh"

snapshot() { # what the host has that a cluster could leave behind
	{
		sysctl -n net.ipv4.ip_forward
		ip -o link show | awk -F': ' '{print $2}' | grep -E '^scfdk8s' || true
		ip -o addr show dev lo | awk '{print $4}'
		ip netns list | grep -E '^cni-' || true
		iptables-save | grep -E '^:KUBE-|-j KUBE-' || true
		ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null || true
		for p in containerd kubelet etcd kube-apiserver kube-proxy; do pgrep -a -x "$p" || true; done
		pgrep -a -f "postgres -D ${SCFD_K8S_STATE:-/run/scfd-k8s}" || true
	} | sort
}
# A previous run that was killed may have left its cluster.
"$HERE/down.sh"
before="$(snapshot)"
down_done=""
teardown() {
	[ -n "$down_done" ] && return
	down_done=1
	"$HERE/down.sh"
}
trap teardown EXIT INT TERM

eval "$("$HERE/up.sh")"
if [ "${1:-}" != --bench ]; then
	# One package at a time: on 2 cores the conformance suite's parallel Pods
	# would slow the kubelet's log relay under the end-to-end tests' requests.
	go test -tags k8s -count=1 -p 1 -timeout 20m ./internal/k8srt/... ./test/k8s/e2e/...
	# Verbose: the rolling update and the kill of a replica print what
	# they cost.
	go test -tags k8s -count=1 -v -timeout 20m ./test/k8s/replicas
fi
if [ "${SCFD_K8S_BENCH:-1}" != 0 ] || [ "${1:-}" = --bench ]; then
	go test -tags k8s -count=1 -run '^$' -bench . -benchtime 3x -timeout 10m ./internal/k8srt
	go test -tags k8s -count=1 -run '^$' -bench . -benchtime 1x -timeout 15m ./test/k8s/replicas
fi

teardown
after="$(snapshot)"
if [ "$before" != "$after" ]; then
	echo "test-k8s: the host differs after teardown:" >&2
	diff <(echo "$before") <(echo "$after") >&2 || true
	exit 1
fi
echo "test-k8s: passed; the host is as before"

#!/usr/bin/env bash
# Tears down the cluster of up.sh and what it left on the host: pods
# (deleted while the kubelet still runs, so CNI releases their addresses),
# daemons, containers and their shims, mounts, cgroups, the bridge and the
# node's dummy interface, network namespaces, iptables KUBE-* chains, the
# sysctls the kubelet and the bridge plugin set, and directories that did
# not exist before. Safe to run twice, and after a failed up.sh.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
STATE="${SCFD_K8S_STATE:-/run/scfd-k8s}"
K8S_VERSION="$(awk '/^require k8s.io\/kubernetes /{print $3}' "$HERE/tools/go.mod")"
BIN="${SCFD_K8S_CACHE:-/var/cache/scfd-k8s}/$K8S_VERSION/bin"
[ -d "$STATE" ] || exit 0
export KUBECONFIG="$STATE/admin.kubeconfig"
K="$BIN/kubectl"

pid_of() { awk -v n="$1" '$1 == n {print $2}' "$STATE/pids" 2>/dev/null; }
stop() { # name: SIGTERM, then SIGKILL after 10 s
	local pid
	pid=$(pid_of "$1")
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
	kill -9 "$pid" 2>/dev/null
}

# Controllers first, or they recreate what is deleted below.
stop kube-controller-manager
if [ -n "$(pid_of kubelet)" ] && timeout 5 "$K" get --raw /readyz >/dev/null 2>&1; then
	timeout 60 "$K" delete pods --all --all-namespaces --grace-period=1 --wait=true >/dev/null 2>&1
fi
stop kube-scheduler
stop kube-proxy
stop kubelet
stop kube-apiserver
stop etcd
# PostgreSQL's fast shutdown (SIGINT): SIGTERM would wait for its clients.
pg=$(pid_of postgres)
[ -n "$pg" ] && kill -INT "$pg" 2>/dev/null
stop postgres

# Containers the kubelet did not remove, then containerd and its shims.
SOCK="$STATE/containerd.sock"
if [ -S "$SOCK" ]; then
	for t in $(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
		ctr -a "$SOCK" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1
	done
	sleep 0.5
	for t in $(ctr -a "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
		ctr -a "$SOCK" -n k8s.io tasks delete -f "$t" >/dev/null 2>&1
	done
	for c in $(ctr -a "$SOCK" -n k8s.io containers ls -q 2>/dev/null); do
		ctr -a "$SOCK" -n k8s.io containers delete "$c" >/dev/null 2>&1
	done
fi
stop containerd
for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null); do
	kill -9 "$pid" 2>/dev/null
done
# Containers still known to runc (a shim killed before its container).
if [ -d /run/containerd/runc/k8s.io ]; then
	for c in $(runc --root /run/containerd/runc/k8s.io list -q 2>/dev/null); do
		runc --root /run/containerd/runc/k8s.io delete -f "$c" >/dev/null 2>&1
	done
fi

# Mounts under the state directory, deepest first.
for _ in 1 2 3; do
	awk -v s="$STATE" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
done

# Network: namespaces CNI made, the bridge, the node address.
for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
	ip netns delete "$ns" 2>/dev/null
done
ip link delete scfdk8s0 2>/dev/null
ip addr delete 10.99.255.1/32 dev lo 2>/dev/null
for ipt in iptables ip6tables; do
	command -v $ipt >/dev/null || continue
	for table in filter nat mangle; do
		# Rules that jump to KUBE-* chains from other chains, then the chains.
		$ipt -t $table -S 2>/dev/null | grep -E '^-A ' | grep -E -- '-j KUBE-' | grep -vE '^-A KUBE-' | sed 's/^-A/-D/' |
			while read -r rule; do eval "$ipt -t $table $rule" 2>/dev/null; done
		for chain in $($ipt -t $table -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
			$ipt -t $table -F "$chain" 2>/dev/null
		done
		for chain in $($ipt -t $table -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
			$ipt -t $table -X "$chain" 2>/dev/null
		done
	done
done

# Cgroups of pods, deepest first.
for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
	[ -d "$root" ] && find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null
done

# Sysctls the cluster set.
if [ -f "$STATE/sysctl.saved" ]; then
	while IFS= read -r kv; do sysctl -qw "$kv" 2>/dev/null; done < "$STATE/sysctl.saved"
fi
# Directories the cluster made outside the state directory.
if [ -f "$STATE/created-dirs" ]; then
	while IFS= read -r d; do rm -rf "$d"; done < "$STATE/created-dirs"
fi
rm -rf /var/lib/cni/results/scfd-k8s-* 2>/dev/null
rm -rf "$STATE"
echo "down.sh: cluster removed" >&2

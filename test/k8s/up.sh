#!/usr/bin/env bash
# Brings up a single-node Kubernetes on this machine for scfd's tests:
# etcd (Debian), kube-apiserver, kube-controller-manager, kube-scheduler
# and a kubelet (built by build.sh), containerd (Debian 1.6) with runc and
# the CNI bridge plugin. Everything lives under $SCFD_K8S_STATE (default
# /run/scfd-k8s); down.sh removes it and what the cluster left on the host.
#
# The node has its own address on the loopback interface (10.99.255.1/32)
# and pods get 10.244.0.0/24 on the bridge scfdk8s0, with routes to the
# service range and the node's address only (scfd in a Pod reaches the
# test's registry and database there): nothing they send can leave the
# machine.
# containerd reads registry hosts from $STATE/certs.d, where a test writes
# <host:port>/hosts.toml for its own registry (plain HTTP).
#
# The API server listens on the node's address, and kube-proxy makes
# Services work for Pods and for this machine.
#
# A PostgreSQL cluster of its own (Debian's binaries, as the postgres user)
# listens on the node's address for scfd's replicas.
#
# Prints the environment to use (also in $STATE/env): KUBECONFIG,
# SCFD_K8S_REGISTRY_HOSTS, SCFD_K8S_BIN, SCFD_K8S_CONTAINERD (containerd's
# socket, to import images), SCFD_K8S_NODE_IP, SCFD_K8S_DATABASE_URL (a
# role that may create databases).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
K8S_VERSION="$(awk '/^require k8s.io\/kubernetes /{print $3}' "$HERE/tools/go.mod")"
BIN="${SCFD_K8S_CACHE:-/var/cache/scfd-k8s}/$K8S_VERSION/bin"
STATE="${SCFD_K8S_STATE:-/run/scfd-k8s}"
NODE=scfd-node
NODE_IP=10.99.255.1
POD_CIDR=10.244.0.0/24
SVC_CIDR=10.96.0.0/24
BRIDGE=scfdk8s0
ETCD_PORT=23790
API_PORT=6443
PAUSE=scfd-k8s.local/pause:1
GATES="PodLogsQuerySplitStreams=true"

PG_PORT=54329
PG_PASSWORD=scfd-k8s-test
PG_BIN="/usr/lib/postgresql/$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)/bin"

for c in etcd containerd ctr openssl runc "$PG_BIN/postgres"; do
	command -v "$c" >/dev/null || { echo "up.sh: $c is missing (apt-get install -y containerd etcd-server conntrack postgresql)" >&2; exit 1; }
done
[ -x "$BIN/kube-apiserver" ] || { echo "up.sh: no binaries in $BIN; run test/k8s/build.sh" >&2; exit 1; }
if [ -e "$STATE/pids" ]; then
	echo "up.sh: a cluster is up ($STATE); run test/k8s/down.sh first" >&2
	exit 1
fi
mkdir -p "$STATE"/{pki,etcd,log,cni/net.d,certs.d,kubelet,containerd}
: > "$STATE/pids"
start=$(date +%s)

# What the cluster changes on the host, to restore in down.sh.
{
	for k in net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
		echo "$k=$(sysctl -n "$k")"
	done
} > "$STATE/sysctl.saved"
for d in /var/log/pods /var/log/containers /var/lib/cni /etc/cni /opt/cni /run/containerd /run/containerd/runc/k8s.io; do
	[ -e "$d" ] || echo "$d" >> "$STATE/created-dirs"
done

run() { # name, command...: starts a daemon logging to $STATE/log/name.log
	local name=$1; shift
	setsid "$@" > "$STATE/log/$name.log" 2>&1 < /dev/null &
	echo "$name $!" >> "$STATE/pids"
}

wait_for() { # what, seconds, command...
	local what=$1 secs=$2; shift 2
	local deadline=$(( $(date +%s) + secs ))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "up.sh: $what not ready after ${secs}s" >&2
			tail -n 30 "$STATE"/log/*.log >&2 || true
			exit 1
		fi
		sleep 0.2
	done
}

# --- node address -------------------------------------------------------
ip addr add "$NODE_IP/32" dev lo

# --- certificates ---------------------------------------------------------
P="$STATE/pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=scfd-k8s-ca" -keyout "$P/ca.key" -out "$P/ca.crt" 2>/dev/null
cert() { # name, subject, [extensions]
	openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$P/$1.key" -out "$P/$1.csr" 2>/dev/null
	if [ -n "${3:-}" ]; then
		printf '%s\n' "$3" > "$P/$1.ext"
		openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 -extfile "$P/$1.ext" -out "$P/$1.crt" 2>/dev/null
	else
		openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 -out "$P/$1.crt" 2>/dev/null
	fi
}
cert apiserver "/CN=kube-apiserver" "subjectAltName=IP:127.0.0.1,IP:$NODE_IP,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost"
cert admin "/O=system:masters/CN=scfd-k8s-admin"
cert kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert node "/O=system:nodes/CN=system:node:$NODE"
cert kubelet "/CN=$NODE" "subjectAltName=IP:$NODE_IP,DNS:$NODE"
openssl genrsa -out "$P/sa.key" 2048 2>/dev/null
openssl rsa -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null

kubeconfig() { # file, user cert name
	cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: scfd-k8s
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $P/ca.crt
users:
- name: $2
  user:
    client-certificate: $P/$2.crt
    client-key: $P/$2.key
contexts:
- name: scfd-k8s
  context: {cluster: scfd-k8s, user: $2}
current-context: scfd-k8s
EOF
}
kubeconfig "$STATE/admin.kubeconfig" admin
kubeconfig "$STATE/kubelet.kubeconfig" node

# --- etcd ---------------------------------------------------------------------
run etcd etcd --name scfd-k8s --data-dir "$STATE/etcd" \
	--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
	--initial-cluster scfd-k8s=http://127.0.0.1:23800 --log-level warn

# --- containerd -----------------------------------------------------------------
cat > "$STATE/cni/net.d/10-scfd-k8s.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "scfd-k8s",
  "plugins": [{
    "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "$SVC_CIDR"}, {"dst": "$NODE_IP/32"}],
             "dataDir": "$STATE/cni/ipam"}
  }, {"type": "portmap", "capabilities": {"portMappings": true}}]
}
EOF
cat > "$STATE/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$STATE/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$STATE/certs.d"
EOF
run containerd containerd --config "$STATE/containerd.toml"
wait_for containerd 20 ctr -a "$STATE/containerd.sock" version
CGO_ENABLED=0 go build -C "$ROOT" -trimpath -o "$STATE/pause" ./test/k8s/pause
"$STATE/pause" -image "$STATE/pause.tar" -tag "$PAUSE"
ctr -a "$STATE/containerd.sock" -n k8s.io images import "$STATE/pause.tar" >/dev/null

# --- control plane ---------------------------------------------------------------
wait_for etcd 20 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
run kube-apiserver "$BIN/kube-apiserver" \
	--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
	--bind-address "$NODE_IP" --secure-port "$API_PORT" --advertise-address "$NODE_IP" \
	--service-cluster-ip-range "$SVC_CIDR" \
	--client-ca-file "$P/ca.crt" --tls-cert-file "$P/apiserver.crt" --tls-private-key-file "$P/apiserver.key" \
	--kubelet-client-certificate "$P/kubelet-client.crt" --kubelet-client-key "$P/kubelet-client.key" \
	--kubelet-preferred-address-types InternalIP,Hostname \
	--service-account-issuer https://kubernetes.default.svc --service-account-key-file "$P/sa.pub" \
	--service-account-signing-key-file "$P/sa.key" \
	--authorization-mode Node,RBAC --feature-gates "$GATES" --v 1
export KUBECONFIG="$STATE/admin.kubeconfig"
K="$BIN/kubectl"
wait_for kube-apiserver 60 "$K" get --raw /readyz
run kube-controller-manager "$BIN/kube-controller-manager" \
	--kubeconfig "$KUBECONFIG" --authentication-kubeconfig "$KUBECONFIG" --authorization-kubeconfig "$KUBECONFIG" \
	--bind-address 127.0.0.1 --service-account-private-key-file "$P/sa.key" --root-ca-file "$P/ca.crt" \
	--service-cluster-ip-range "$SVC_CIDR" --use-service-account-credentials --leader-elect=false --v 1
run kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$KUBECONFIG" \
	--authentication-kubeconfig "$KUBECONFIG" --authorization-kubeconfig "$KUBECONFIG" \
	--bind-address 127.0.0.1 --leader-elect=false --v 1

# --- kubelet ---------------------------------------------------------------------
cat > "$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
tlsCertFile: $P/kubelet.crt
tlsPrivateKeyFile: $P/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$STATE/containerd.sock
resolvConf: /etc/resolv.conf
featureGates: {PodLogsQuerySplitStreams: true}
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 250
EOF
run kubelet "$BIN/kubelet" --config "$STATE/kubelet.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
	--root-dir "$STATE/kubelet" --hostname-override "$NODE" --node-ip "$NODE_IP" --v 1
wait_for "node $NODE" 60 "$K" wait --for=condition=Ready "node/$NODE" --timeout=1s

# kube-proxy, so that Pods reach Services (scfd inside the cluster reaches
# the API server at its Service address) and this machine reaches them too.
# It changes no sysctl (conntrack settings left as they are) and accepts
# NodePorts on the node's address only.
run kube-proxy "$BIN/kube-proxy" --kubeconfig "$KUBECONFIG" --hostname-override "$NODE" \
	--cluster-cidr "$POD_CIDR" --proxy-mode iptables --bind-address "$NODE_IP" --nodeport-addresses "$NODE_IP/32" \
	--conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
	--healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 --v 1
wait_for kube-proxy 30 curl -sf http://127.0.0.1:10256/healthz

# --- PostgreSQL ------------------------------------------------------------------
# The database of scfd's replicas running in the cluster: its own cluster in
# $STATE, as the postgres user, on the node's address (Pods reach it there).
mkdir -p "$STATE/postgres"
chown postgres: "$STATE/postgres"
chmod 0700 "$STATE/postgres"
as_postgres() { setpriv --reuid postgres --regid postgres --init-groups "$@"; }
echo "$PG_PASSWORD" > "$STATE/pg.pw"
chown postgres: "$STATE/pg.pw"
as_postgres "$PG_BIN/initdb" -D "$STATE/postgres/data" -U scfd --pwfile "$STATE/pg.pw" \
	--auth-local peer --auth-host scram-sha-256 > "$STATE/log/initdb.log" 2>&1
rm "$STATE/pg.pw"
{
	echo "host all all $POD_CIDR scram-sha-256"
	echo "host all all $NODE_IP/32 scram-sha-256"
} >> "$STATE/postgres/data/pg_hba.conf"
run postgres setpriv --reuid postgres --regid postgres --init-groups "$PG_BIN/postgres" -D "$STATE/postgres/data" \
	-c listen_addresses="$NODE_IP" -p "$PG_PORT" -c unix_socket_directories="$STATE/postgres" -c max_connections=200
wait_for postgres 30 "$PG_BIN/pg_isready" -q -h "$NODE_IP" -p "$PG_PORT"

# The default service account, which the admission of every Pod needs.
wait_for "default service account" 30 "$K" get serviceaccount default

cat > "$STATE/env" <<EOF
export KUBECONFIG=$STATE/admin.kubeconfig
export SCFD_K8S_REGISTRY_HOSTS=$STATE/certs.d
export SCFD_K8S_BIN=$BIN
export SCFD_K8S_CONTAINERD=$STATE/containerd.sock
export SCFD_K8S_NODE_IP=$NODE_IP
export SCFD_K8S_DATABASE_URL=postgres://scfd:$PG_PASSWORD@$NODE_IP:$PG_PORT/postgres?sslmode=disable
EOF
echo "up.sh: cluster up in $(( $(date +%s) - start )) s; environment:" >&2
cat "$STATE/env"

#!/usr/bin/env bash
# Installs what scfd and its tests need on a fresh Debian 12 machine:
# the system packages (only the missing ones) and the Node.js packages of
# the end-to-end tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(runc containernetworking-plugins iptables iproute2 e2fsprogs util-linux buildah)
if [ "${1:-}" = "--test" ]; then
	packages+=(docker-registry apache2-utils skopeo umoci wrk nodejs npm chromium nginx-light postgresql)
fi
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs and npm may come from outside Debian; count them present when on PATH.
if command -v node >/dev/null && command -v npm >/dev/null; then
	filtered=()
	for p in "${missing[@]}"; do
		[ "$p" = nodejs ] || [ "$p" = npm ] || filtered+=("$p")
	done
	missing=("${filtered[@]}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "scfd needs these Debian packages: ${missing[*]} (run as root, or install them)" >&2
		exit 1
	fi
	echo "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian starts nginx on port 80 when it installs it; the benchmarks
	# run their own.
	if [[ " ${missing[*]} " == *" nginx-light "* ]] && [ -x /etc/init.d/nginx ]; then
		/etc/init.d/nginx stop >/dev/null 2>&1 || true
	fi
fi

if [ "${1:-}" = "--test" ] && [ ! -d test/e2e/node_modules/tencentcloud-sdk-nodejs-scf ]; then
	(cd test/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

#!/usr/bin/env bash
# Starts Debian's PostgreSQL cluster for the tests (installing the
# package when missing, as root), makes sure the role scfd_test may log
# in and create databases, and prints the URL the tests read from
# SCFD_TEST_DATABASE_URL. Each test creates and drops its own database.
# Safe to run again, and by several test runs at once.
set -euo pipefail

if ! command -v pg_lsclusters >/dev/null || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "the tests need Debian's postgresql package (run as root, or install it)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
	pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
	pg_ctlcluster "$version" main start >&2 || pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
for _ in $(seq 50); do
	pg_isready -q -h 127.0.0.1 -p "$port" && break
	sleep 0.1
done
password=scfd_test
PGOPTIONS="-c client_min_messages=warning" runuser -u postgres -- psql -q -p "$port" -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN CREATE ROLE scfd_test; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
ALTER ROLE scfd_test LOGIN CREATEDB PASSWORD '$password';
GRANT pg_signal_backend TO scfd_test;
SQL
echo "postgres://scfd_test:$password@127.0.0.1:$port/postgres?sslmode=disable"

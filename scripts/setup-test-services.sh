#!/usr/bin/env bash
# Installs the real services the test suite starts by itself, when they are missing:
#   - redis-server (Debian package), unless REDIS_URL points at a running Redis, and redis-sentinel: the Redis
#     Cluster and Sentinel tests start their own servers whatever REDIS_URL says;
#   - a MongoDB-compatible server: a `mongod` already on PATH, else FerretDB v1.24.2 built with Go,
#     unless MONGODB_URI points at a running server.
# Idempotent: a second run changes nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

redis_missing=()
command -v redis-server >/dev/null 2>&1 || redis_missing+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || redis_missing+=(redis-sentinel)
if [ ${#redis_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${redis_missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${redis_missing[@]}" >/dev/null
  else
    echo "${redis_missing[*]} missing: run 'sudo apt-get install -y redis-server redis-sentinel'" >&2
    exit 1
  fi
fi

if [ -z "${MONGODB_URI:-}" ] && ! command -v mongod >/dev/null 2>&1; then
  if ! command -v go >/dev/null 2>&1; then
    echo "no mongod on PATH and no Go to build FerretDB: install Go, or set MONGODB_URI" >&2
    exit 1
  fi
  "$here/install-ferretdb.sh"
fi

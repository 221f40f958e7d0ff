#!/usr/bin/env bash
# Make sure a PostgreSQL server is reachable for Odoo, and print nothing when it already is.
# - PGHOST/PGPORT/PGUSER set: that server is used as it is (never started here).
# - else, as root: the machine's cluster (Debian's postgresql) is started and a superuser role
#   for the current user is created;
# - else: a project-local cluster under .pgdata/ (git-ignored) listening on a socket in it.
set -euo pipefail
source "$(dirname "$0")/common.sh"

if [ -n "${PGHOST:-}" ] && [ "${PGHOST}" != "$ROOT/.pgdata" ]; then
  if ! pg_isready -q; then
    echo "q2c: PostgreSQL at PGHOST=$PGHOST PGPORT=${PGPORT:-5432} does not answer" >&2
    exit 1
  fi
  exit 0
fi

if [ "$(id -u)" -eq 0 ] || [ ! -x /usr/lib/postgresql/15/bin/initdb ] && command -v pg_lsclusters >/dev/null; then
  if ! pg_isready -q; then
    read -r ver name _ < <(pg_lsclusters -h | head -n 1) || true
    if [ -z "${ver:-}" ]; then
      ver=$(ls /usr/lib/postgresql | sort -n | tail -n 1); name=main
      pg_createcluster "$ver" "$name" >/dev/null
    fi
    pg_ctlcluster "$ver" "$name" start
    for _ in $(seq 1 30); do pg_isready -q && break; sleep 0.5; done
  fi
  if ! psql -d postgres -tAc "select 1" >/dev/null 2>&1; then
    su postgres -c "psql -U postgres -d postgres -q -c \"CREATE ROLE \\\"$PGUSER\\\" SUPERUSER LOGIN\"" >/dev/null
  fi
  exit 0
fi

# Project-local cluster (non-root user without a usable system cluster).
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
data="$ROOT/.pgdata"
if [ ! -f "$data/PG_VERSION" ]; then
  "$bindir/initdb" -D "$data" -A trust -U "$PGUSER" >/dev/null
fi
if ! PGHOST="$data" pg_isready -q; then
  "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-k $data -c listen_addresses='' -c fsync=off" start >/dev/null
fi

#!/usr/bin/env bash
# Make sure PostgreSQL *server* binaries (initdb, pg_ctl, postgres) exist for the test suite.
#
# Looks where tests/helpers/pgserver.py looks ($IDSTITCH_PG_BIN, `pg_config --bindir`, the newest
# /usr/lib/postgresql/*/bin) and apt-installs the `postgresql` package only when nothing is found.
# It never leaves a server running: the tests start (and stop) their own throwaway servers.
set -euo pipefail

has_server_bins() {
  [[ -x "$1/initdb" && -x "$1/pg_ctl" && -x "$1/postgres" ]]
}

find_bin_dir() {
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir="$(pg_config --bindir 2>/dev/null || true)"
    if [[ -n "$dir" ]] && has_server_bins "$dir"; then echo "$dir"; return 0; fi
  fi
  while IFS= read -r dir; do
    if has_server_bins "$dir"; then echo "$dir"; return 0; fi
  done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r)
  return 1
}

if [[ -n "${IDSTITCH_PG_BIN:-}" ]]; then
  if has_server_bins "$IDSTITCH_PG_BIN"; then
    echo "ensure_postgres: using IDSTITCH_PG_BIN=$IDSTITCH_PG_BIN"
    exit 0
  fi
  echo "ensure_postgres: IDSTITCH_PG_BIN=$IDSTITCH_PG_BIN has no initdb/pg_ctl/postgres executables" >&2
  exit 1
fi

if dir="$(find_bin_dir)"; then
  echo "ensure_postgres: PostgreSQL server binaries found in $dir"
  exit 0
fi

echo "ensure_postgres: no PostgreSQL server binaries found: installing the postgresql package"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_postgres: no apt-get here; install the PostgreSQL server yourself and set IDSTITCH_PG_BIN" >&2
  exit 1
fi
SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ensure_postgres: need root (or sudo) to apt-get install postgresql" >&2
    exit 1
  fi
  SUDO=(sudo)
fi

# Keep the Debian package from creating (and starting) its `main` cluster: createcluster.conf includes
# this directory. (Whatever it would start is stopped below anyway.)
"${SUDO[@]}" mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | "${SUDO[@]}" tee /etc/postgresql-common/createcluster.d/00-idstitch-ci.conf >/dev/null

"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql

# No server binaries existed before the install, so any cluster running now was started by it: stop it.
if command -v pg_lsclusters >/dev/null 2>&1; then
  while read -r version cluster _port status _rest; do
    if [[ "$status" == online* ]]; then
      echo "ensure_postgres: stopping cluster $version/$cluster started by the package install"
      "${SUDO[@]}" pg_ctlcluster "$version" "$cluster" stop || true
    fi
  done < <(pg_lsclusters --no-header 2>/dev/null || true)
fi

if dir="$(find_bin_dir)"; then
  echo "ensure_postgres: PostgreSQL server binaries installed in $dir"
else
  echo "ensure_postgres: installed postgresql, but still no initdb/pg_ctl/postgres found" >&2
  exit 1
fi

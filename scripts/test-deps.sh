#!/usr/bin/env bash
# What the tests need beyond npm packages, found or installed (npm test runs
# this first, as its pretest; so does .ci/run):
#   - Chromium at /usr/bin/chromium (playwright-core drives Debian's; it never
#     downloads a browser of its own),
#   - strace,
#   - a reachable PostgreSQL. PG_URL if set; else 127.0.0.1:5432 if it answers
#     (as postgres://postgres@127.0.0.1:5432/postgres); else a cluster of our
#     own (Debian's postgresql) in a temp folder on a free port, trust auth on
#     127.0.0.1 only, run by a non-root user (the server refuses root). That
#     cluster stays up for the next run; `scripts/test-deps.sh stop-pg` stops it.
# The URL settled on is written to .test-deps/pg-url (one line); tests read
# PG_URL, else that file, else postgres://postgres@127.0.0.1:5432/postgres.
#
# Idempotent and quick when everything is present. What cannot be found or
# installed (not root, no network) fails at once with one line naming the
# command to run. TILLSYNC_TEST_PG_FORCE_LOCAL=1 skips the 5432 probe (to try
# the own-cluster path on a machine that has a server there).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE="$ROOT/.test-deps"
PG_DIR="${TILLSYNC_TEST_PG_DIR:-${TMPDIR:-/tmp}/tillsync-test-pg-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)}"

fail() {
  echo "test-deps: $*" >&2
  exit 1
}

# apt-get, as root, non-interactive and bounded (no network fails, never hangs).
apt_install() {
  local what=$1
  shift
  if [ "$(id -u)" -ne 0 ]; then fail "$what is missing; install it with: sudo apt-get install -y $*"; fi
  command -v apt-get >/dev/null || fail "$what is missing and this is not a Debian system: install $* (Debian package names)"
  export DEBIAN_FRONTEND=noninteractive
  local opts=(-o Acquire::Retries=1 -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20 -o DPkg::Lock::Timeout=120)
  echo "test-deps: installing $* (apt-get)" >&2
  if ! timeout 900 apt-get "${opts[@]}" install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
    timeout 300 apt-get "${opts[@]}" update -qq >/dev/null 2>&1 || true
    timeout 900 apt-get "${opts[@]}" install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
      fail "could not install $what (no network or apt lock held?); run: apt-get update && apt-get install -y $*"
  fi
}

# --- Chromium and strace ------------------------------------------------------
chromium() {
  [ -x /usr/bin/chromium ] && return
  apt_install chromium chromium fonts-dejavu-core
  [ -x /usr/bin/chromium ] || fail "apt-get installed chromium but /usr/bin/chromium is missing; run: apt-get install --reinstall -y chromium"
}

strace_() {
  command -v strace >/dev/null && return
  apt_install strace strace
}

# --- PostgreSQL -----------------------------------------------------------------
pg_bin() {
  # Debian keeps the server programs out of PATH, one folder per major version.
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  done
  return 1
}

# Can we log in? (psql when present; a server that answers pg_isready otherwise.)
pg_login() {
  local url=$1
  if command -v psql >/dev/null; then
    PGCONNECT_TIMEOUT=10 psql "$url" -Atqc 'select 1' >/dev/null 2>&1
  elif command -v pg_isready >/dev/null; then
    pg_isready -q -t 10 -d "$url"
  else
    return 0 # nothing to check with: the tests will say
  fi
}

write_url() {
  mkdir -p "$STATE"
  local tmp="$STATE/pg-url.$$"
  printf '%s\n' "$1" >"$tmp"
  mv -f "$tmp" "$STATE/pg-url"
}

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Who runs our cluster: this user, or as root an unprivileged system user.
pg_user() {
  if [ "$(id -u)" -ne 0 ]; then id -un; return; fi
  if id postgres >/dev/null 2>&1; then echo postgres; return; fi
  if ! id tillsync-pg >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin tillsync-pg >/dev/null 2>&1 ||
      fail "cannot create a user for PostgreSQL; run: useradd --system tillsync-pg"
  fi
  echo tillsync-pg
}

as_pg() {
  local user=$1
  shift
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

own_cluster() {
  local bin user port url
  bin=$(pg_bin) || { apt_install postgresql postgresql; bin=$(pg_bin) || fail "no initdb after installing postgresql; run: apt-get install --reinstall -y postgresql"; }
  user=$(pg_user)
  # Ours already running (a previous run)? Reuse it.
  if [ -f "$PG_DIR/tillsync-url" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    url=$(cat "$PG_DIR/tillsync-url")
    if as_pg "$user" "$bin/pg_ctl" status -D "$PG_DIR/data" >/dev/null 2>&1 && pg_login "$url"; then
      write_url "$url"
      return
    fi
  fi
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    rm -rf "$PG_DIR"
    mkdir -p "$PG_DIR"
    chmod 0700 "$PG_DIR"
    [ "$(id -u)" -eq 0 ] && chown "$user" "$PG_DIR"
    as_pg "$user" "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
      fail "initdb failed (see $PG_DIR/initdb.log); or set PG_URL=postgres://USER@HOST:PORT/DB to a server of yours"
  fi
  port=$(free_port)
  # Loopback only, its socket in its own folder; fsync off: a test database, rebuilt at will.
  as_pg "$user" "$bin/pg_ctl" start -w -t 60 -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$PG_DIR -c fsync=off -c max_connections=200" >/dev/null 2>&1 ||
    fail "the test PostgreSQL did not start (see $PG_DIR/server.log); or set PG_URL=postgres://USER@HOST:PORT/DB"
  url="postgres://postgres@127.0.0.1:$port/postgres"
  pg_login "$url" || fail "the test PostgreSQL at $url does not accept logins (see $PG_DIR/server.log)"
  printf '%s\n' "$url" >"$PG_DIR/tillsync-url"
  write_url "$url"
}

postgres_() {
  if [ -n "${PG_URL:-}" ]; then
    pg_login "$PG_URL" || fail "PG_URL=$PG_URL does not accept logins; fix it or unset PG_URL to use a local server"
    write_url "$PG_URL"
    return
  fi
  local url=postgres://postgres@127.0.0.1:5432/postgres
  # "Answers" = accepts a login (one psql; pg_isready when there is no psql).
  if [ "${TILLSYNC_TEST_PG_FORCE_LOCAL:-}" != 1 ] && { command -v psql >/dev/null || command -v pg_isready >/dev/null; } &&
    pg_login "$url"; then
    write_url "$url"
    return
  fi
  own_cluster
}

stop_pg() {
  local bin user
  [ -f "$PG_DIR/data/postmaster.pid" ] || { echo "test-deps: no test PostgreSQL running in $PG_DIR"; return; }
  bin=$(pg_bin) || fail "pg_ctl not found"
  user=$(pg_user)
  as_pg "$user" "$bin/pg_ctl" stop -w -t 60 -m fast -D "$PG_DIR/data" >/dev/null
  echo "test-deps: stopped the test PostgreSQL in $PG_DIR"
}

case "${1:-}" in
  stop-pg) stop_pg ;;
  '')
    chromium
    strace_
    postgres_
    ;;
  *) fail "unknown argument $1 (use no argument, or stop-pg)" ;;
esac

#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on 127.0.0.1 for the tests and prints its connection URL on stdout.
#   tests/postgres.sh start [DIR]   initdb into DIR (default: a new temp dir), start on a free port, print the URL
#   tests/postgres.sh stop DIR      stop the server started in DIR and remove DIR (KEEP_PG_LOGS=DIR2: its server log is
#                                   copied to DIR2 first, to read what PostgreSQL saw, e.g. a deadlock, after a test)
# The server runs as the postgres user (initdb refuses root) and listens on loopback only.
set -euo pipefail

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
  echo "error: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 1
}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

cmd=${1:-start}
case "$cmd" in
  start)
    bin=$(pg_bin)
    dir=${2:-$(mktemp -d /tmp/lifecycle-pg.XXXXXX)}
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    port=$(free_port)
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    as_postgres "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qAt -c "CREATE DATABASE lifecycle" >/dev/null
    echo "$port" >"$dir/port"
    echo "postgres://postgres@127.0.0.1:$port/lifecycle"
    ;;
  stop)
    bin=$(pg_bin)
    dir=${2:?usage: tests/postgres.sh stop DIR}
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    [ -n "${KEEP_PG_LOGS:-}" ] && mkdir -p "$KEEP_PG_LOGS" && cp "$dir/server.log" "$KEEP_PG_LOGS/$(basename "$dir").log"
    rm -rf "$dir"
    ;;
  *)
    echo "usage: tests/postgres.sh start [DIR] | stop DIR" >&2
    exit 2
    ;;
esac

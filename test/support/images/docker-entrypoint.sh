#!/bin/sh
# Entry point of the test images. Behaves like the official postgres image's where the migration
# depends on it: started as root it takes ownership of the data and socket directories and goes on
# as postgres; the first start of an empty data directory runs initdb (POSTGRES_USER as superuser
# with POSTGRES_PASSWORD), creates POSTGRES_DB and runs /docker-entrypoint-initdb.d/*.sql; then
# postgres runs in the foreground with any extra arguments (`-c name=value`).
set -eu

# `docker run image -c x=y` means `postgres -c x=y`, as with the official image.
[ $# -gt 0 ] || set -- postgres
case $1 in -*) set -- postgres "$@" ;; esac
[ "$1" = postgres ] || exec "$@"
shift

PGDATA=${PGDATA:-/var/lib/postgresql/data}
SOCKETS=/var/run/postgresql

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" "$SOCKETS"
  chown -R postgres:postgres "$PGDATA"
  chown postgres:postgres "$SOCKETS"
  chmod 700 "$PGDATA"
  chmod 3777 "$SOCKETS"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
    exit 1
  fi
  # The password goes in on stdin: never on a command line or in a file.
  initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile=/dev/stdin --encoding=UTF8 --locale=C <<PW
$POSTGRES_PASSWORD
PW
  case $(cat "$PGDATA/PG_VERSION") in
    9.* | 1[0-3]) auth=md5 ;;
    *) auth=scram-sha-256 ;;
  esac
  echo "host all all all $auth" >> "$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"

  # Initialisation runs on a server reachable only through the socket, as the official image does.
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=$SOCKETS" start
  export PGHOST="$SOCKETS" PGUSER="$POSTGRES_USER"
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -X -q -v ON_ERROR_STOP=1 -d postgres -v db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    if [ "${f%.sql}" != "$f" ]; then
      echo "$0: running $f"
      psql -X -q -v ON_ERROR_STOP=1 -d "$POSTGRES_DB" -f "$f"
    elif [ -e "$f" ]; then
      echo "$0: ignoring $f"
    fi
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "PostgreSQL init process complete; ready for start up."
fi

# The zonky 9.6 build's compiled-in socket directory is /tmp; the real images use this one.
exec postgres -c unix_socket_directories="$SOCKETS" "$@"

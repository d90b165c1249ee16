#!/usr/bin/env bash
# The migration guide's database sequence as plain commands, for the benchmark's baseline:
# dump the original, restore it into an empty database on the 9.6 work server (replica role, one
# transaction), apply every update script there, dump again, restore into the 15 server.
# usage: guide-baseline.sh BIN_DIR DUMP_DIR ORIGINAL_SOCKET WORK_SOCKET NEW_SOCKET UPDATE_SCRIPT...
# Connection: PGPORT, PGUSER, PGDATABASE and PGPASSWORD from the environment (never argv).
# Prints "phase <name> <milliseconds>" per phase.
set -euo pipefail

bin=$1 dumps=$2 original=$3 work=$4 new=$5
shift 5
psql_=("$bin/psql" -X -q -v ON_ERROR_STOP=1)
ms() { echo $(( $(date +%s%N) / 1000000 )); }
timed() {
  local name=$1 start
  shift
  start=$(ms)
  "$@"
  echo "phase $name $(( $(ms) - start ))"
}
dump() { "$bin/pg_dump" -h "$1" --format=plain --encoding=UTF8 --no-password >"$2"; }
restore() {
  # The images pre-create the schema: load into an empty database (see docs/domain notes).
  "${psql_[@]}" -h "$1" -d postgres -c "DROP DATABASE IF EXISTS \"$PGDATABASE\"" -c "CREATE DATABASE \"$PGDATABASE\" OWNER \"$PGUSER\""
  "${psql_[@]}" -h "$1" -1 -c 'SET session_replication_role = replica' -f "$2"
}
updates() {
  local script
  for script in "$@"; do "${psql_[@]}" -h "$work" -1 -f "$script"; done
}

timed dumpOriginal dump "$original" "$dumps/pacsdb-original.sql"
timed restoreWork restore "$work" "$dumps/pacsdb-original.sql"
timed applyUpdates updates "$@"
timed dumpUpdated dump "$work" "$dumps/pacsdb-updated.sql"
timed restoreNew restore "$new" "$dumps/pacsdb-updated.sql"

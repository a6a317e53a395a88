#!/usr/bin/env bash
# Assembles the container's root filesystem: the one list of what the image holds.
#
#   scripts/rootfs.sh BINARY DEST
#
# Dockerfile.scratch copies DEST as-is into a `FROM scratch` stage; test/e2e/rootfs.test.ts
# runs the binary chrooted inside DEST. Prints the files it wrote (relative to DEST), one a
# line, so the test can prove the tree holds nothing else. Needs bash, coreutils and glibc's
# ldd (present on any Debian, including the oven/bun build image); run it as root so the
# files belong to root and the service user cannot change them.
set -euo pipefail
umask 022

readonly SERVICE_UID=1000 SERVICE_GID=1000 SERVICE_NAME=rune
readonly CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

die() { echo "rootfs: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: scripts/rootfs.sh BINARY DEST"
binary=$1 dest=$2
{ [ -f "$binary" ] && [ -x "$binary" ]; } || die "$binary is not an executable file (build it first: bun scripts/build.ts)"
if [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then die "$dest is not empty"; fi
[ -f "$CA_BUNDLE" ] || die "$CA_BUNDLE is missing: install Debian's ca-certificates package"
command -v ldd >/dev/null || die "ldd is missing (glibc's libc-bin)"

written=()
put() { # mode, source, path inside DEST
  install -D -m "$1" "$2" "$dest$3"
  written+=("${3#/}")
}
put_text() { # mode, path inside DEST, content
  local tmp
  tmp=$(mktemp)
  printf '%s\n' "$3" >"$tmp"
  put "$1" "$tmp" "$2"
  rm -f "$tmp"
}

# The program. A Bun executable carries its code appended to the runtime: never strip it.
put 0755 "$binary" /rune-scheduler

# Exactly the shared objects the dynamic loader maps: the interpreter named in the ELF header
# and every library it resolves, each at the path the loader looks for it (no ld.so.cache in
# the image, so they go where the loader's built-in search path finds them, as resolved here).
libs=$(ldd "$binary") || die "ldd failed on $binary (is it a dynamic glibc executable of this machine's architecture?)"
if grep -q 'not found' <<<"$libs"; then die "unresolved libraries: $(grep 'not found' <<<"$libs" | tr -s ' \t' ' ')"; fi
while read -r path; do
  put 0755 "$(readlink -f "$path")" "$path"
done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' <<<"$libs")

# Who the service runs as (USER 1000:1000): names for uid/gid 1000, no shell, no home.
put_text 0644 /etc/passwd "$SERVICE_NAME:x:$SERVICE_UID:$SERVICE_GID:rune-scheduler:/nonexistent:/sbin/nologin"
put_text 0644 /etc/group "$SERVICE_NAME:x:$SERVICE_GID:"
# Trust roots for amqps:// and TLS to PostgreSQL (NODE_EXTRA_CA_CERTS / NODE_USE_SYSTEM_CA).
put 0644 "$CA_BUNDLE" "$CA_BUNDLE"

printf '%s\n' "${written[@]}"

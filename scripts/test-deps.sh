#!/usr/bin/env bash
# Debian packages the tests need beyond the machine image, installed only when missing (CI starts
# from a fresh machine). Called by scripts/test.sh. As root it says what it installs and why,
# then installs it; otherwise it names what is missing and the command to run, and stops.
set -euo pipefail

# One group a line: "why|package package …". The why is what the operator reads before apt-get runs.
NEEDED=(
  "the systemd unit tests (test/e2e/systemd.test.ts) check and boot the unit: systemd-analyze, journalctl, systemd-nspawn, strace|systemd systemd-container strace"
  "the image and release tests (test/e2e/rootfs.test.ts, release.test.ts) build a root filesystem and run the musl binary in it|util-linux coreutils libc-bin ca-certificates musl-tools libstdc++6"
  "the encryption interop test opens the scheduler's Fernet tokens with Python's cryptography, as a worker would|python3-cryptography"
  "the TLS and pooler tests (test/e2e/postgres-tls.test.ts, pgbouncer.test.ts) start a PostgreSQL 15 with ssl=on and a PgBouncer of their own, with certificates made by openssl|postgresql-15 pgbouncer openssl"
  "the image tests (test/e2e/image.test.ts) build Dockerfile.scratch and run it with Debian's podman, on runc (scripts/podman/containers.conf)|podman runc"
  "the console browser tests (test/e2e/console-browser.test.ts) drive Debian's Chromium through playwright-core|chromium"
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
lines=()
for group in "${NEEDED[@]}"; do
  why=${group%%|*}
  absent=()
  for package in ${group#*|}; do installed "$package" || absent+=("$package"); done
  [ ${#absent[@]} -eq 0 ] && continue
  missing+=("${absent[@]}")
  lines+=("test-deps:   ${absent[*]}: ${why}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  {
    echo "test-deps: these Debian packages are missing:"
    printf '%s\n' "${lines[@]}"
    echo "test-deps: install them as root: apt-get install ${missing[*]}"
  } >&2
  exit 1
fi
echo "test-deps: installing Debian packages as root (apt-get update, then apt-get install --no-install-recommends):"
printf '%s\n' "${lines[@]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test-deps: installed ${missing[*]}"

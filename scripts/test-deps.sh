#!/usr/bin/env bash
# Debian packages the tests need beyond the machine image: for the packaging tests
# (test/e2e/{rootfs,systemd,release}.test.ts) and Python's Fernet for the interop tests. Installed
# only when missing: CI starts from a fresh machine.
# Called by scripts/test.sh; needs root to install, and otherwise names what is missing.
set -euo pipefail

PACKAGES=(
  systemd          # systemd-analyze (verify, security --offline, syscall-filter), journalctl
  systemd-container  # systemd-nspawn: boots this machine's systemd to start the unit for real
  strace           # the system calls the binary makes, checked against SystemCallFilter=
  util-linux       # unshare: mount and PID namespaces for the container stand-in
  coreutils        # chroot --userspec, sha256sum
  libc-bin         # ldd, which scripts/rootfs.sh reads the libraries from
  ca-certificates  # the CA bundle scripts/rootfs.sh puts in the image
  musl-tools       # musl's loader and musl-gcc (brings musl, musl-dev, gcc): runs the x64-musl binary
  libstdc++6       # the C++ runtime the musl binary is linked against, under a small shim
  python3-cryptography  # Python's Fernet: the consumer side of the ENCRYPTION_KEY interop tests
  chromium         # the browser playwright-core drives in test/e2e/console-browser.test.ts
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "test-deps: missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "test-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Cross-compiles the release binaries and their checksums:
#
#   scripts/release.sh [OUTDIR]        (default: dist)
#
# writes OUTDIR/rune-scheduler-VERSION-linux-{x64,x64-musl,arm64,arm64-musl} and
# OUTDIR/SHA256SUMS. Each binary is scripts/build.ts with --target, so it reports the version
# and commit exactly as the development build does.
#
# Bun compiles for another platform by appending the code to that platform's Bun runtime, of the
# same version as the compiler. Bun can download those runtimes itself, but here they come from
# npm, where Oven publishes them as @oven/bun-linux-*: npm checks each tarball against the
# registry's integrity hash and honours .npmrc (mirror, proxy, token), which Bun's own download
# does not promise. The runtime is unpacked into a cache directory under the name Bun looks for
# (bun-<platform>-v<version>), and BUN_INSTALL_CACHE_DIR points Bun there, so it finds the
# runtime instead of downloading it. Nothing is written into the repository but OUTDIR.
#
# x64 uses Bun's "baseline" runtime (x86-64-v2, no AVX2): a scheduler gains nothing from AVX2,
# and a binary that dies with SIGILL on an older CPU or a VM with masked CPU flags is an outage.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-dist}
BUN=node_modules/.bin/bun
[ -x "$BUN" ] || { echo "release: $BUN is missing: run npm ci" >&2; exit 1; }
bun_version=$("$BUN" --version)
version=$("$BUN" -e 'console.log(require("./package.json").version)')
cache=${RUNE_RUNTIME_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rune-scheduler/bun-runtimes}
mkdir -p "$out" "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name in the release | bun --target | npm package of that runtime | Bun's cache name for it
TARGETS=(
  "linux-x64        bun-linux-x64-baseline      @oven/bun-linux-x64-baseline      bun-linux-x64-baseline"
  "linux-x64-musl   bun-linux-x64-musl-baseline @oven/bun-linux-x64-musl-baseline bun-linux-x64-musl-baseline"
  "linux-arm64      bun-linux-arm64             @oven/bun-linux-aarch64           bun-linux-aarch64"
  "linux-arm64-musl bun-linux-arm64-musl        @oven/bun-linux-aarch64-musl      bun-linux-aarch64-musl"
)

# Puts the runtime for one platform into the cache, from npm, unless it is there already.
fetch_runtime() { # npm package, cache name
  local cached="$cache/$2-v$bun_version" tmp="$work/$2"
  [ -x "$cached" ] && return 0
  mkdir -p "$tmp"
  echo "release: fetching $1@$bun_version from npm"
  (cd "$tmp" && npm pack --silent "$1@$bun_version" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/bin/bun
  chmod 0755 "$tmp/package/bin/bun"
  mv "$tmp/package/bin/bun" "$cached.partial"
  mv "$cached.partial" "$cached"
}

if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  echo "release: warning: the working tree has uncommitted changes; binaries will say commit …-dirty" >&2
fi

built=()
for row in "${TARGETS[@]}"; do
  read -r name target package cache_name <<<"$row"
  fetch_runtime "$package" "$cache_name"
  file="rune-scheduler-$version-$name"
  BUN_INSTALL_CACHE_DIR="$cache" "$BUN" scripts/build.ts --target "$target" --outfile "$out/$file"
  built+=("$file")
done

(cd "$out" && sha256sum "${built[@]}" >SHA256SUMS)
echo "release: $out/SHA256SUMS"
cat "$out/SHA256SUMS"

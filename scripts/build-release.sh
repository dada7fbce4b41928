#!/usr/bin/env bash
# Release build of the `tickwire` product.
#
#   scripts/build-release.sh [--native] [--no-lto] [--scratch-path DIR] [-- extra swift build args]
#
# Cross-module optimization is already on for the libraries (Package.swift, release only).
# Full LTO (`--experimental-lto-mode=full`, linked with lld) is added by default; --no-lto builds
# without it (the fallback, and the peer for the benchmarks). --native adds
# `-target-cpu native` for Swift AND `-march=native` for the C shim (the doctor's CPU-flag
# check reads the shim's flags): opt-in, because the binary then needs the build host's CPU.
# Each variant has its own scratch path, so switching variants never rebuilds another.
# The last line printed is the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."

native=0
lto=1
scratch=""
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --native) native=1 ;;
        --no-lto) lto=0 ;;
        --scratch-path) scratch="$2"; shift ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "build-release.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

args=(-c release --product tickwire)
variant="rel"
if [[ $lto == 1 ]]; then
    args+=(--experimental-lto-mode=full)
    variant+="-lto"
fi
if [[ $native == 1 ]]; then
    args+=(-Xswiftc -target-cpu -Xswiftc native -Xcc -march=native)
    variant+="-native"
fi
scratch="${scratch:-.build-$variant}"

echo "build-release.sh: swift build ${args[*]} ${extra[*]} --scratch-path $scratch" >&2
swift build "${args[@]}" "${extra[@]}" --scratch-path "$scratch" >&2
bin="$(swift build "${args[@]}" "${extra[@]}" --scratch-path "$scratch" --show-bin-path)/tickwire"
test -x "$bin"
echo "$bin"

#!/usr/bin/env bash
# The main job on a fresh machine. Until the daemon lands it builds the release binary,
# shows what this host offers the hot path (`tickwire doctor`) and the command overview.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-host.sh
swift build -c release --product tickwire
bin=$(swift build -c release --show-bin-path)/tickwire
"$bin" doctor
echo
"$bin" --help

#!/usr/bin/env bash
# The main job on a fresh machine: installs what it needs, builds the release binary, shows
# what this host offers the hot path (`tickwire doctor`), then runs `tickwire demo`: two
# simulated venues -> `tickwire run` -> loopback multicast -> `tickwire listen`, live top of
# book for 20 s (Ctrl-C stops it sooner), then the latency and counter summaries.
# Extra arguments go to `tickwire demo` (e.g. --seconds 60 --rate 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-host.sh
swift build -c release --product tickwire
bin=$(swift build -c release --show-bin-path)/tickwire
"$bin" doctor || echo "(doctor reported a FAIL above: see its remedy; the demo runs anyway)"
echo
exec "$bin" demo "$@"

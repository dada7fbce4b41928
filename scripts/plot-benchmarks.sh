#!/usr/bin/env bash
# PNG plots for docs/BENCHMARKS.md: installs matplotlib from PyPI into a venv under
# .build-plot/ (any python3 with venv), then runs scripts/plot-benchmarks.py with the
# arguments given, e.g.
#
#   scripts/bench-cryptofeed.sh --keep /tmp/cf && scripts/plot-benchmarks.sh --cryptofeed /tmp/cf
#   scripts/bench-e2e.sh --keep /tmp/e2e && scripts/plot-benchmarks.sh --e2e /tmp/e2e
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build-plot/venv
if [[ ! -x "$venv/bin/python" ]] && ! python3 -m venv "$venv"; then
    echo "plot-benchmarks.sh: python3 cannot make a venv; remedy: apt-get install python3-venv" >&2
    exit 1
fi
"$venv/bin/python" -c 'import matplotlib' 2>/dev/null ||
    "$venv/bin/pip" install -q --disable-pip-version-check 'matplotlib>=3.7' >&2
exec "$venv/bin/python" scripts/plot-benchmarks.py "$@"

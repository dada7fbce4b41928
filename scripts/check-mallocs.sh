#!/usr/bin/env bash
# Runs the package-benchmark suite once and fails if any benchmark that measures mallocs
# (every hot-path benchmark does, through `hotPathConfiguration`) counted one.
set -euo pipefail
cd "$(dirname "$0")/.."

out=.build-bench-results
rm -rf "$out"
mkdir -p "$out"
swift package --allow-writing-to-directory "$out" benchmark --target CoreBenchmarks \
  --format jmh --path "$out" --no-progress --quiet

python3 - "$out/Current_run.jmh.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
checked, failed = 0, []
for b in results:
    name = b["benchmark"].rsplit(".", 1)[-1]
    mallocs = b.get("secondaryMetrics", {}).get("Malloc (total)")
    if mallocs is None:
        continue            # peers (e.g. the naive book) do not measure mallocs
    checked += 1
    if mallocs["score"] != 0:
        failed.append(f"{name}: {mallocs['score']} mallocs per iteration")
if checked == 0:
    sys.exit("check-mallocs: no benchmark reported a malloc count")
for line in failed:
    print("check-mallocs: FAIL " + line)
print(f"check-mallocs: {checked - len(failed)} of {checked} hot-path benchmarks at 0 mallocs")
sys.exit(1 if failed else 0)
PY

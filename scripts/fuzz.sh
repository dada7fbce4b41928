#!/usr/bin/env bash
# libFuzzer targets (Fuzz/): one per parser, built in release with libFuzzer + AddressSanitizer.
#   scripts/fuzz.sh --smoke          build all, run each ~10 s over its seeds (CI); fails on any finding
#   scripts/fuzz.sh --long N [T...]  run each target (or the named ones) for N inputs; prints
#                                    "RESULT fuzz_<target>_execs <n> inputs" (and exec/s)
# Seeds: Fuzz/Seeds/<Target>/ (copied to a temp corpus, the repo is never written).
# Crashes land in $FUZZ_ARTIFACTS (default: a temp dir, printed).
# Environment: FUZZ_JOBS (parallel targets, default 1), FUZZ_SMOKE_SECONDS (default 10),
# FUZZ_SCRATCH (default .build-fuzz), FUZZ_NO_BUILD=1 (reuse binaries).
#
# Why both `--sanitize=address` and `-Xswiftc -sanitize=fuzzer,address`: SwiftPM hands swiftc
# `-sanitize=fuzzer -sanitize=address`, and the Swift driver keeps only the last -sanitize=, so
# Swift code would get ASan but no coverage instrumentation (libFuzzer then sees only the C shim).
# The -Xswiftc flag comes last and carries both. The C shim gets both from SwiftPM.
# The "multiple definition of 'main'" link error printed for BenchmarkBoilerplateGenerator-tool
# is the benchmark plugin's host tool picking up -sanitize=fuzzer; it does not affect these products.
set -euo pipefail
cd "$(dirname "$0")/.."
# Swift's own crash backtracer would catch a trap before libFuzzer and then trip ASan itself.
export SWIFT_BACKTRACE=enable=no

TARGETS=(FuzzWebSocketFrame FuzzBinanceSpot FuzzBinanceUSDM FuzzBybit FuzzOKX FuzzCoinbase FuzzKraken FuzzUdpFrame FuzzWireDecoder FuzzRecordingLine)
SCRATCH=${FUZZ_SCRATCH:-.build-fuzz}
JOBS=${FUZZ_JOBS:-1}
MAX_LEN=8192

usage() { echo "usage: $0 --smoke | --long N [target...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
mode=$1; shift
runs=0
case "$mode" in
  --smoke) ;;
  --long) [ $# -ge 1 ] || usage; runs=$1; shift; [ $# -gt 0 ] && TARGETS=("$@") ;;
  *) usage ;;
esac

build() {
  local target log
  for target in "${TARGETS[@]}"; do
    log=$(mktemp)
    if ! swift build -c release --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address \
        --scratch-path "$SCRATCH" --product "$target" >"$log" 2>&1; then
      cat "$log" >&2; rm -f "$log"
      echo "fuzz.sh: build of $target failed" >&2; exit 1
    fi
    rm -f "$log"
    echo "built $target"
  done
}

work=$(mktemp -d /tmp/tickwire-fuzz.XXXXXX)
artifacts=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$artifacts"
trap 'rm -rf "$work/corpus"' EXIT

# run TARGET ARGS...: one libFuzzer run over a temp copy of the target's seeds; log in $work/TARGET.log.
run() {
  local target=$1; shift
  local corpus=$work/corpus/$target
  mkdir -p "$corpus" "$artifacts/$target"
  cp Fuzz/Seeds/"$target"/* "$corpus"/
  "$SCRATCH/release/$target" -max_len=$MAX_LEN -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$artifacts/$target/" "$@" "$corpus" \
    >"$work/$target.log" 2>&1
}

# report TARGET STATUS: the run's figures, or its log on failure.
report() {
  local target=$1 status=$2 log=$work/$1.log execs speed secs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | awk '{print $5}' | tail -1)
  if [ "$status" != 0 ]; then
    echo "FAIL $target (exit $status) after ${execs:-?} inputs; crash input in $artifacts/$target/:" >&2
    grep -v '^"' "$log" | tail -40 >&2
    return 1
  fi
  echo "ok   $target: ${execs:-?} inputs in ${secs:-?} s (${speed:-?} exec/s)"
  if [ "$mode" = --long ]; then
    name=$(echo "${target#Fuzz}" | sed -E 's/([a-z0-9])([A-Z])/\1_\2/g' | tr 'A-Z' 'a-z')
    echo "RESULT fuzz_${name}_execs ${execs:-0} inputs"
    echo "RESULT fuzz_${name}_exec_per_s ${speed:-0} exec/s"
  fi
}

[ -n "${FUZZ_NO_BUILD:-}" ] || build

if [ "$mode" = --smoke ]; then
  args=(-max_total_time="${FUZZ_SMOKE_SECONDS:-10}" -runs=200000)
else
  args=(-runs="$runs")
fi

failed=0
pids=(); names=()
for target in "${TARGETS[@]}"; do
  run "$target" "${args[@]}" & pids+=($!); names+=("$target")
  if [ ${#pids[@]} -ge "$JOBS" ]; then
    status=0; wait "${pids[0]}" || status=$?
    report "${names[0]}" $status || failed=1
    pids=("${pids[@]:1}"); names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  status=0; wait "${pids[$i]}" || status=$?
  report "${names[$i]}" $status || failed=1
done
if [ $failed != 0 ]; then echo "fuzz.sh: findings above (logs in $work)" >&2; exit 1; fi
[ -n "${FUZZ_ARTIFACTS:-}" ] || rm -rf "$work"
echo "fuzz.sh: all targets clean"

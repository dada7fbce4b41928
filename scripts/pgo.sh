#!/usr/bin/env bash
# Profile-guided release build of `tickwire`, with IR-level PGO:
#   1. instrumented build (-Xfrontend -ir-profile-generate, the profile runtime linked by hand;
#      no LTO: counters are placed before LTO, so the profile fits the LTO build) in .build-pgo-gen;
#   2. training run with the instrumented binary: every generator venue (bybit-linear,
#      bybit-spot, okx, coinbase, kraken) plus the Binance spot capture of ../shared/samples/
#      replayed, all on one channel through `run` into `listen`, in both topologies, then the
#      AF_XDP and the standard sender across a veth pair (root); then `replay --max` (the
#      replay benchmark's workload, scripts/bench-replay.sh) of both Binance captures and of
#      every generator venue's frames recorded with `record --once`; plus `config check`,
#      `doctor` and a short `demo`;
#   3. the toolchain's own llvm-profdata merge (Debian's cannot read Swift's profiles);
#   4. release build with -Xfrontend -ir-profile-use=FILE (+ full LTO, + --native when given)
#      in .build-pgo-use.
# Why IR-level: the frontend's -profile-generate/-profile-use (SIL-level) aborts the compiler
# (ColdBlockInfo `takenProbability >= 0`, in EarlyPerfInliner) on functions the training left
# unexecuted — here ArgumentParser's `description` getter and swift-numerics' `Augmented.sum`,
# which no run of tickwire can reach. IR-level PGO never feeds the SIL optimizer, so it cannot.
#
#   scripts/pgo.sh [--native] [--messages N]
# The last line printed is the optimized binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/e2e.sh
source scripts/lib/replay.sh

native=() messages=20000
while [[ $# -gt 0 ]]; do
    case "$1" in
        --native) native=(--native) ;;
        --messages) messages="$2"; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "pgo.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

profdata_tool="$(dirname "$(readlink -f "$(command -v swiftc)")")/llvm-profdata"
[[ -x "$profdata_tool" ]] || { echo "pgo.sh: no llvm-profdata beside swiftc ($profdata_tool)" >&2; exit 1; }
samples="$(cd .. && pwd)/shared/samples/binance"
capture="$samples/spot-ethusdt-20240808.gz"
[[ -f "$capture" ]] || { echo "pgo.sh: the training capture $capture is missing" >&2; exit 1; }

echo "pgo.sh: 1/4 instrumented build" >&2
runtime="$(dirname "$(readlink -f "$(command -v swiftc)")")/../lib/clang"
runtime="$(ls "$runtime"/*/lib/linux/libclang_rt.profile-x86_64.a | head -1)"
instrumented="$(scripts/build-release.sh --no-lto --scratch-path .build-pgo-gen -- -Xswiftc -Xfrontend -Xswiftc -ir-profile-generate \
    -Xlinker "$runtime" -Xlinker -u__llvm_profile_runtime | tail -1)"

profiles="$(pwd)/.build-pgo-gen/profiles"
rm -rf "$profiles" && mkdir -p "$profiles"
export LLVM_PROFILE_FILE="$profiles/%p-%m.profraw"
work="$(mktemp -d /tmp/tickwire-pgo.XXXXXX)"
cleanup() { e2e_stop_all; [[ $(id -u) == 0 ]] && e2e_veth_down; rm -rf "$work"; return 0; }
trap cleanup EXIT
trap 'exit 130' INT TERM

generated=(bybit-linear bybit-spot okx coinbase kraken)
group="239.77.8.1:31801"

# train NAME NETWORK LISTEN-FORMAT SETTINGS...: every venue on one channel through run into listen.
train() {
    local name="$1" network="$2" format="$3"; shift 3
    local dir="$work/$name"
    mkdir -p "$dir"
    e2e_network "$network"
    local ns_a="$E2E_RUN_NS" ns_b="$E2E_LISTEN_NS" listen_iface="$E2E_LISTEN_IF" settings=("${E2E_SENDER_SETTINGS[@]}")
    local venue
    for venue in "${generated[@]}"; do e2e_generate "$instrumented" "$dir" "$venue" 0 "$messages" "$ns_a"; done
    e2e_replay_binance "$instrumented" "$dir" "$capture" "$ns_a"
    e2e_main_toml "$dir/main.toml" "$group" "${generated[@]}" binance-spot -- "${settings[@]}" "$@"
    "$instrumented" config check "$dir/main.toml" >&2
    ${ns_b:+ip netns exec "$ns_b"} "$instrumented" listen --channel "$group" --iface "$listen_iface" \
        --format "$format" --exit-on-end >"$dir/listen.out" 2>"$dir/listen.err" &
    local listen=$!
    E2E_PIDS+=($listen)
    sleep 0.3
    ${ns_a:+ip netns exec "$ns_a"} "$instrumented" run --config "$dir/main.toml" --once >"$dir/run.out" 2>"$dir/run.err" &
    local run=$! status=0
    E2E_PIDS+=($run)
    e2e_wait_pid "$run" 600 || status=$?
    e2e_wait_pid "$listen" 30 || true
    e2e_stop_all
    echo "  $name: run exited $status; $(grep '^listen: end:' "$dir/listen.err" | cut -c1-160)" >&2
    [[ $status == 0 ]] || { cat "$dir/run.err" >&2; return 1; }
}

# train_replay: replay --max of both captures and of each generator venue's recorded frames.
train_replay() {
    local dir="$work/replay" venue entry
    mkdir -p "$dir"
    replay_capture_inputs "$samples"
    local inputs=("${REPLAY_INPUTS[@]}")
    for venue in "${generated[@]}"; do
        replay_record_generated "$instrumented" "$dir" "$venue" "$messages"
        inputs+=("$REPLAY_INPUT")
    done
    for entry in "${inputs[@]}"; do
        # shellcheck disable=SC2086
        "$instrumented" replay ${entry#*|} --max >/dev/null 2>"$dir/replay.err" || { cat "$dir/replay.err" >&2; return 1; }
        echo "  replay ${entry%%|*}: $(grep -E '^replay: [0-9.]+ s, ' "$dir/replay.err" | cut -c1-120)" >&2
    done
}

echo "pgo.sh: 2/4 training run ($messages generated messages per venue, LLVM_PROFILE_FILE=$LLVM_PROFILE_FILE)" >&2
train fused lo stats pipeline.topology='"fused"'
train staged lo jsonl pipeline.topology='"staged"' pipeline.idle='"spin-yield"'
train fused-no-batch lo table pipeline.topology='"fused"' pipeline.batch=1 pipeline.prefetch=false \
    host.mlockall='"off"' host.huge_pages='"off"' pipeline.idle='"spin-park"'
if [[ $(id -u) == 0 ]]; then
    e2e_veth_up
    train veth-xdp veth-xdp stats pipeline.topology='"fused"'
    train veth-standard veth-standard stats pipeline.topology='"staged"' pipeline.idle='"spin-yield"'
    e2e_veth_down
else
    echo "pgo.sh: not root: the veth/AF_XDP training is skipped (its paths stay unprofiled)" >&2
fi
train_replay
"$instrumented" doctor >/dev/null 2>&1 || true
"$instrumented" demo --seconds 3 >/dev/null 2>&1 || true

echo "pgo.sh: 3/4 $profdata_tool merge ($(ls "$profiles" | wc -l) profiles)" >&2
profile="$(pwd)/.build-pgo-gen/tickwire.profdata"
"$profdata_tool" merge -o "$profile" "$profiles"/*.profraw

echo "pgo.sh: 4/4 build with -ir-profile-use=$profile" >&2
scripts/build-release.sh "${native[@]}" --scratch-path ".build-pgo-use${native:+-native}" -- -Xswiftc -Xfrontend -Xswiftc "-ir-profile-use=$profile"

#!/usr/bin/env bash
# Replay throughput: recorded venue frames through the full pipeline (adapter parser, book
# keeper, channel encoder; fused, one core, no sockets) with `tickwire replay --max`.
#
#   scripts/bench-replay.sh [--bin PATH] [--runs N] [--no-generated] [--no-callgrind]
#
# Inputs: both Binance captures from ../shared/samples, and (unless --no-generated) frames of
# several venues recorded from the built-in simulator with `tickwire record` first. Each input
# is replayed N times (default 5); best and median messages/s and book updates/s per input,
# then RESULT lines: the Binance spot capture's rate is the headline (goal >= 2M messages/s,
# tardis-machine's published ~700k msgs/s the anchor). With valgrind, callgrind counts
# instructions per message on the spot capture. Without --bin the release binary is built
# (scripts/build-release.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/e2e.sh
source scripts/lib/replay.sh

bin="" runs=5 generated=1 callgrind=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bin) bin="$2"; shift ;;
        --runs) runs="$2"; shift ;;
        --no-generated) generated=0 ;;
        --no-callgrind) callgrind=0 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "bench-replay.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [[ -z "$bin" ]]; then bin="$(scripts/build-release.sh | tail -n1)"; fi
samples="$(cd .. && pwd)/shared/samples/binance"
work="$(mktemp -d /tmp/bench-replay.XXXXXX)"
trap 'e2e_stop_all 2>/dev/null || true; rm -rf "$work"' EXIT

replay_capture_inputs "$samples"
inputs=("${REPLAY_INPUTS[@]}")
if [[ $generated == 1 ]]; then
    for venue in bybit-linear okx kraken coinbase; do
        replay_record_generated "$bin" "$work" "$venue" 200000
        inputs+=("$REPLAY_INPUT")
    done
fi

# median and best of the numbers on stdin
stats() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d %d\n", m, v[NR] }'; }

printf '%-24s %10s %14s %14s %14s %14s\n' input messages "msg/s median" "msg/s best" "upd/s median" "upd/s best"
declare -A best_rate median_rate best_updates median_updates
for entry in "${inputs[@]}"; do
    name="${entry%%|*}" args="${entry#*|}"
    rates=() updates=()
    for ((run = 0; run < runs; run++)); do
        # shellcheck disable=SC2086
        "$bin" replay $args --max 2>"$work/replay.err" >/dev/null
        line="$(grep -E '^replay: [0-9.]+ s, ' "$work/replay.err")"
        rates+=("$(sed -E 's/.* s, ([0-9]+) messages\/s.*/\1/' <<<"$line")")
        updates+=("$(sed -E 's/.*, ([0-9]+) book updates\/s.*/\1/' <<<"$line")")
        messages="$(grep -oE 'messages [0-9]+' "$work/replay.err" | head -n1 | cut -d' ' -f2)"
    done
    read -r median_rate[$name] best_rate[$name] < <(printf '%s\n' "${rates[@]}" | stats)
    read -r median_updates[$name] best_updates[$name] < <(printf '%s\n' "${updates[@]}" | stats)
    printf '%-24s %10s %14s %14s %14s %14s\n' "$name" "$messages" "${median_rate[$name]}" "${best_rate[$name]}" \
        "${median_updates[$name]}" "${best_updates[$name]}"
done

if [[ $callgrind == 1 ]] && command -v valgrind >/dev/null; then
    entry="${inputs[0]}" args="${entry#*|}"
    # Decompressed first, so the count is the replay, not the inflate; collected inside the
    # loop only. valgrind 3.19 cannot read the Swift binary's DWARF: a copy without it is profiled.
    gzip -dc "$samples/spot-ethusdt-20240808.gz" >"$work/spot.txt"
    cp "$bin" "$work/tickwire-symbols-only" && strip -g "$work/tickwire-symbols-only"
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --collect-atstart=no \
        --toggle-collect='*ReplayLoop*feedAll*' "$work/tickwire-symbols-only" replay \
        ${args/--input $samples\/spot-ethusdt-20240808.gz/--input $work/spot.txt} --max 2>"$work/callgrind.err" >/dev/null || true
    instructions="$(grep -E '^summary:|^totals:' "$work/callgrind.out" 2>/dev/null | head -n1 | awk '{ print $2 }')"
    messages="$(grep -oE 'messages [0-9]+, snapshots [0-9]+' "$work/callgrind.err" | awk '{ print $2 + $4 }' || true)"
    if [[ -n "$instructions" && "${messages:-0}" -gt 0 ]]; then
        echo "callgrind: $instructions instructions in the replay loop for $messages frames"
        echo "RESULT replay_instructions_per_message $((instructions / messages)) instructions"
    fi
fi

spot="binance-spot-capture"
echo "RESULT replay_spot_capture_messages_per_second_best ${best_rate[$spot]} msg/s"
echo "RESULT replay_spot_capture_messages_per_second_median ${median_rate[$spot]} msg/s"
echo "RESULT replay_usdm_capture_messages_per_second_median ${median_rate[binance-usdm-capture]} msg/s"
echo "RESULT replay_spot_capture_book_updates_per_second_median ${median_updates[$spot]} updates/s"
echo "RESULT replay_usdm_capture_book_updates_per_second_median ${median_updates[binance-usdm-capture]} updates/s"
if [[ $generated == 1 ]]; then
    for venue in bybit-linear okx kraken coinbase; do
        echo "RESULT replay_${venue//-/_}_generated_book_updates_per_second_median ${median_updates[$venue-generated]} updates/s"
    done
fi
echo "RESULT replay_rate_vs_tardis_anchor $(awk -v r="${median_rate[$spot]}" 'BEGIN { printf "%.2f", r / 700000 }') x"

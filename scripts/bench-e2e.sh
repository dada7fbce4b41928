#!/usr/bin/env bash
# End-to-end benchmark of the daemon on this machine (issue 5):
#   tickwire simulate (generated venues) -> tickwire run -> tickwire listen --format stats
#
#   scripts/bench-e2e.sh [--bin PATH] [--peer NAME=PATH]... [--runs N] [--seconds S] [--quick]
#                        [--no-ramp] [--no-techniques] [--no-veth] [--only-peers] [--keep DIR]
#                        [--shared-cpus]
#
# Placement: the fused pipeline's thread is pinned to the last CPU and the simulators and the
# listener run on the others (as on a box where the feed handler owns its cores); there the
# listener sleeps 50 µs after an empty poll (`--idle-sleep-us`) instead of spinning, so the
# simulators beside it send on time. --shared-cpus lets the scheduler put everything anywhere
# (the earlier default, a spinning listener). The staged topology's four
# threads are never pinned here: this machine has no core per stage.
#
# Latency legs, per published book update (every figure is p50/p99/p99.9/max):
#   internal  the read that returned the venue's bytes came back -> the packet's send time
#             (`run`'s own summary: parse, book, encode, up to the sender);
#   wire      the kernel's receive stamp of those bytes -> the packet's send time (adds the
#             socket: TCP receive processing and the wait until the read);
#   listener  the kernel's receive stamp -> the book rebuilt in `listen`.
#
# Scenarios (each repeated --runs times; best and median are reported, never one run):
#   paced   50k msg/s in both topologies on loopback multicast;
#   veth    50k msg/s across a veth pair between two namespaces, standard and xdp senders (root);
#   ramp    the fused topology at rising rates until the first loss: the highest lossless rate;
#   techniques  one variable at a time against the default configuration (fused, 50k msg/s):
#           mlockall, affinity, huge pages, batching (256 vs 1), prefetch, SCHED_FIFO;
#   peers   the default configuration with each --peer binary (e.g. release without LTO, PGO).
# --keep DIR keeps every trial's folder (DIR/LABEL.TIME/) with its outputs, and there the latency
# histograms run and listen write at exit (run-latency.txt, listen-latency.txt; format in
# docs/BENCHMARKS.md) for `scripts/plot-benchmarks.sh --e2e DIR`.
# Loss = listen's gaps or packets lost or kernel drops > 0, or run's dropped events, books
# invalidated by ring overflow or packets refused by the full packet ring.
# Every figure is printed at the end as `RESULT <name> <value> <unit>`; ratios are named
# `<what>_vs_<peer>` and are > 1 when the first is better (lower latency, higher rate).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/e2e.sh

bin="" runs=3 seconds=3 paced=1 ramp=1 techniques=1 veth=1 keep="" shared_cpus=0
peers=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bin) bin="$2"; shift ;;
        --peer) peers+=("$2"); shift ;;
        --runs) runs="$2"; shift ;;
        --seconds) seconds="$2"; shift ;;
        --quick) runs=1 seconds=2 ramp=0 techniques=0 ;;
        --no-ramp) ramp=0 ;;
        --no-techniques) techniques=0 ;;
        --no-veth) veth=0 ;;
        --only-peers) paced=0 ramp=0 techniques=0 veth=0 ;;
        --keep) keep="$2"; shift ;;
        --shared-cpus) shared_cpus=1 ;;
        -h|--help) sed -n "2,38p" "$0"; exit 0 ;;
        *) echo "bench-e2e.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ -n "$bin" ]] || bin="$(scripts/build-release.sh | tail -1)"
[[ -x "$bin" ]] || { echo "bench-e2e.sh: no binary at $bin" >&2; exit 2; }

work="${keep:-$(mktemp -d /tmp/tickwire-bench.XXXXXX)}"
mkdir -p "$work"
cleanup() {
    e2e_stop_all
    [[ $veth == 1 && $(id -u) == 0 ]] && e2e_veth_down
    [[ -z "$keep" ]] && rm -rf "$work"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

venues=(bybit-linear bybit-spot)   # two connections on one channel
paced_rate=50000
group="239.77.9.1:31901"
defaults=(pipeline.topology='"fused"' pipeline.idle='"busy-spin"' pipeline.batch=256 pipeline.prefetch=true
          host.mlockall='"best-effort"' host.huge_pages='"auto"')
cpus=$(nproc)
if [[ $shared_cpus == 0 && $cpus -ge 2 ]]; then
    defaults+=(pipeline.fused_cpu=$((cpus - 1)))
    E2E_SIDE_CPUS="0-$((cpus - 2))"
    listen_idle=(--idle-sleep-us 50)
else
    listen_idle=()
fi

# trial LABEL NETWORK RATE SETTINGS...: one run; NETWORK is lo, veth-standard or veth-xdp.
# Appends "msgs/s int_p50 int_p99 int_p999 int_max e2e_p50 e2e_p99 e2e_p999 e2e_max loss
# wire_p50 wire_p99 wire_p999 wire_max" to $work/LABEL.tsv. TRIAL_BIN overrides the binary.
trial() {
    local label="$1" network="$2" rate="$3"; shift 3
    local dir="$work/$label.$(date +%s%N)" trial_bin="${TRIAL_BIN:-$bin}" nv=${#venues[@]}
    mkdir -p "$dir"
    local per_venue_rate=$((rate / nv)) messages=$(( (rate > 0 ? rate : 1500000) * seconds / nv ))
    e2e_network "$network"
    local ns_a="$E2E_RUN_NS" ns_b="$E2E_LISTEN_NS" listen_iface="$E2E_LISTEN_IF" settings=("${E2E_SENDER_SETTINGS[@]}")
    local venue
    for venue in "${venues[@]}"; do e2e_generate "$trial_bin" "$dir" "$venue" "$per_venue_rate" "$messages" "$ns_a"; done
    e2e_main_toml "$dir/main.toml" "$group" "${venues[@]}" -- "${defaults[@]}" "${settings[@]}" "$@"
    # Kept trials keep the whole latency distributions too (binaries older than the option: not).
    local run_histogram=() listen_histogram=()
    if [[ -n "$keep" ]] && "$trial_bin" run --help 2>&1 | grep -q -- --latency-histogram; then
        run_histogram=(--latency-histogram "$dir/run-latency.txt") listen_histogram=(--latency-histogram "$dir/listen-latency.txt")
    fi
    ${ns_b:+ip netns exec "$ns_b"} $(e2e_side) "$trial_bin" listen --channel "$group" --iface "$listen_iface" "${listen_idle[@]}" \
        --format stats --exit-on-end "${listen_histogram[@]}" >"$dir/listen.out" 2>"$dir/listen.err" &
    local listen=$!
    E2E_PIDS+=($listen)
    sleep 0.3   # joined before the first packet
    local status=0
    ${ns_a:+ip netns exec "$ns_a"} "$trial_bin" run --config "$dir/main.toml" --once "${run_histogram[@]}" >"$dir/run.out" 2>"$dir/run.err" &
    E2E_PIDS+=($!)
    e2e_wait_pid $! $((seconds * 10 + 60)) || status=$?
    e2e_wait_pid "$listen" 20 || true
    e2e_stop_all
    if [[ $status != 0 ]] || ! grep -q "^listen: end:" "$dir/listen.err"; then
        echo "bench-e2e.sh: $label: run exited $status; see $dir (kept)" >&2
        keep="$work"
        printf 'FAILED\n' >>"$work/$label.tsv"
        return 0
    fi
    local end drops ring msgs
    matches() { grep "$@" || true; }   # no match is an answer here, not an error
    end="$(grep "^listen: end:" "$dir/listen.err")"
    # Loss: listen's gaps + packets lost + kernel drops, run's dropped events, overflowed books, refused packets.
    drops="$(matches -o 'kernel drops: A [0-9]*' "$dir/listen.out" | tail -1 | matches -o '[0-9]*$')"
    ring="$(matches -oE '(dropped|books invalidated by overflow|refused by the full ring) [0-9]+' "$dir/run.err" | awk '{s += $NF} END {print s + 0}')"
    local gaps lost
    gaps="$(matches -oE 'gaps [0-9]+' <<<"$end" | awk '{print $2}')" lost="$(matches -oE 'packets lost [0-9]+' <<<"$end" | awk '{print $3}')"
    local loss=$(( ${gaps:-0} + ${lost:-0} + ${drops:-0} + ring ))
    # Sustained rate: the median of the whole seconds between the first and the last report
    # that saw messages (the max when the run was shorter than three reports).
    local rates
    rates="$(matches -oE '[0-9]+ messages/s' "$dir/listen.out" | awk '$1 > 0 {print $1}')"
    if (( $(wc -l <<<"$rates") >= 3 )); then
        msgs="$(sed '1d;$d' <<<"$rates" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')"
    else
        msgs="$(sort -n <<<"$rates" | tail -1)"
    fi
    # leg LINE PREFIX: "p50 p99 p99.9 max" of the `PREFIX µs (n=N): p50 … max …` figures in LINE.
    leg() { matches -oE "$2 µs \(n=[0-9]+\): p50 [0-9.]+ p99 [0-9.]+ p99.9 [0-9.]+ max [0-9.]+" <<<"$1" | awk '{print $(NF-6), $(NF-4), $(NF-2), $NF}'; }
    local internal wire e2e run_latency
    run_latency="$(grep -m1 'latency: ' "$dir/run.err" || true)"
    internal="$(leg "$run_latency" 'read returned->packet sent')"
    wire="$(leg "$run_latency" 'venue frame received->packet sent')"
    e2e="$(leg "$end" 'venue frame received->book rebuilt')"
    echo "${msgs:-0} ${internal:-- - - -} ${e2e:-- - - -} $loss ${wire:-- - - -}" >>"$work/$label.tsv"
    printf '  %-34s %8s msg/s  internal p50/p99/p99.9/max %s µs  wire->sent %s µs  received->listener %s µs  loss %s\n' \
        "$label" "${msgs:-0}" "${internal// //}" "${wire// //}" "${e2e// //}" "$loss" >&2
    [[ -n "$keep" ]] || rm -rf "$dir"
}

# repeat LABEL NETWORK RATE SETTINGS...: `runs` trials.
repeat() { local i; for ((i = 0; i < runs; i++)); do trial "$@"; done; }

# stat LABEL COLUMN best|median: a column of LABEL's successful runs (best = min for
# latencies, max for the rate in column 1).
stat() {
    [[ -f "$work/$1.tsv" ]] || { echo "-"; return; }
    grep -v FAILED "$work/$1.tsv" | awk -v c="$2" '$c != "-" {print $c}' | sort -g | awk -v c="$2" -v how="$3" '
        { v[++n] = $1 }
        END { if (n == 0) { print "-"; exit }
              if (how == "median") print (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2)
              else print (c == 1 ? v[n] : v[1]) }'
}

results=()
result() { results+=("RESULT $1 $2 $3"); }
report_label() {
    local label="$1" c name
    local names=(msgs_per_s internal_p50 internal_p99 internal_p999 internal_max listener_p50 listener_p99 listener_p999 listener_max
                 loss wire_p50 wire_p99 wire_p999 wire_max)
    for c in 1 2 3 4 5 6 7 8 9 11 12 13 14; do
        name="${names[c - 1]}"
        local unit=us; [[ $c == 1 ]] && unit=msg/s
        result "${label}_${name}_median" "$(stat "$label" "$c" median)" "$unit"
        result "${label}_${name}_best" "$(stat "$label" "$c" best)" "$unit"
    done
    local failed lossy
    failed="$(grep -c FAILED "$work/$label.tsv" || true)"
    lossy="$(grep -v FAILED "$work/$label.tsv" | awk '$10 > 0' | wc -l)"
    result "${label}_runs_with_loss" "$lossy" "of-$runs"
    [[ $failed == 0 ]] || result "${label}_runs_failed" "$failed" "of-$runs"
}
# ratio NAME LABEL PEER COLUMN: peer/label for latencies, label/peer for the rate (> 1: LABEL better).
ratio() {
    local a b
    a="$(stat "$2" "$4" median)" b="$(stat "$3" "$4" median)"
    [[ $a == - || $b == - ]] && { result "$1" - x; return; }
    result "$1" "$(awk -v a="$a" -v b="$b" -v c="$4" 'BEGIN { if (c == 1) printf "%.2f", a / b; else printf "%.2f", (a > 0 ? b / a : 0) }')" x
}

echo "bench-e2e.sh: $bin, $runs runs of ${seconds} s each, venues ${venues[*]}; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

if [[ $paced == 1 ]]; then
    echo "paced: $paced_rate msg/s on loopback" >&2
    repeat fused_lo_50k lo $paced_rate
    repeat staged_lo_50k lo $paced_rate pipeline.topology='"staged"' pipeline.idle='"spin-yield"'
    report_label fused_lo_50k
    report_label staged_lo_50k
fi

if [[ $veth == 1 && $(id -u) == 0 ]]; then
    echo "veth: $paced_rate msg/s across a veth pair, each sender" >&2
    e2e_veth_up
    repeat fused_veth_standard_50k veth-standard $paced_rate
    repeat fused_veth_xdp_50k veth-xdp $paced_rate
    e2e_veth_down
    report_label fused_veth_standard_50k
    report_label fused_veth_xdp_50k
elif [[ $veth == 1 ]]; then
    echo "bench-e2e.sh: not root: the veth scenarios are skipped" >&2
fi

if [[ $ramp == 1 ]]; then
    echo "ramp: fused topology, rising rates until the first loss (0 = as fast as the simulators send)" >&2
    best_rate=0 best_label=""
    for rate in 100000 200000 400000 800000 1600000 0; do
        label="fused_lo_rate_$rate"
        repeat "$label" lo "$rate"
        if grep -v FAILED "$work/$label.tsv" | awk '$10 > 0 {bad = 1} END {exit !bad}' || grep -q FAILED "$work/$label.tsv"; then
            echo "  loss or failure at rate $rate: stop" >&2
            result max_lossless_first_lossy_rate "$rate" msg/s
            break
        fi
        measured="$(stat "$label" 1 median)"
        if awk -v m="$measured" -v b="$best_rate" 'BEGIN {exit !(m > b)}'; then best_rate="$measured" best_label="$label"; fi
    done
    result max_lossless_msgs_per_s_median "$best_rate" msg/s
    [[ -n "$best_label" ]] && result max_lossless_msgs_per_s_best "$(stat "$best_label" 1 best)" msg/s
    [[ -n "$best_label" ]] && result max_lossless_at "$best_label" -
fi

if [[ $techniques == 1 ]]; then
    echo "techniques: one variable at a time against fused (staged for the book stage's), $paced_rate msg/s, loopback" >&2
    staged='pipeline.topology="staged" pipeline.idle="spin-yield"'
    # name|settings with|settings without (space-separated)
    table=(
        "mlockall|host.mlockall=\"best-effort\"|host.mlockall=\"off\""
        "affinity|pipeline.fused_cpu=$((cpus - 1))|pipeline.fused_cpu="
        "huge_pages|host.huge_pages=\"auto\"|host.huge_pages=\"off\""
        # Batching and prefetching belong to the book stage: staged topology only.
        "batching|$staged pipeline.batch=256|$staged pipeline.batch=1"
        "prefetch|$staged pipeline.prefetch=true|$staged pipeline.prefetch=false"
        "realtime|pipeline.fused_cpu=$((cpus - 1)) pipeline.realtime_priority=50|pipeline.fused_cpu=$((cpus - 1))"
    )
    # Interleaved (with, without, with, …) so drifting load hits both alike.
    for row in "${table[@]}"; do
        IFS='|' read -r name with without <<<"$row"
        for ((i = 0; i < runs; i++)); do
            # shellcheck disable=SC2086 # a cell may hold several settings, split on spaces
            trial "tech_${name}_on" lo $paced_rate $with
            # shellcheck disable=SC2086
            trial "tech_${name}_off" lo $paced_rate $without
        done
    done
    for row in "${table[@]}"; do
        name="${row%%|*}"
        report_label "tech_${name}_on"
        report_label "tech_${name}_off"
        ratio "internal_p50_${name}_on_vs_off" "tech_${name}_on" "tech_${name}_off" 2
        ratio "internal_p99_${name}_on_vs_off" "tech_${name}_on" "tech_${name}_off" 3
        ratio "listener_p50_${name}_on_vs_off" "tech_${name}_on" "tech_${name}_off" 6
    done
fi

for peer in "${peers[@]}"; do
    name="${peer%%=*}" path="${peer#*=}"
    echo "peer $name ($path) against $bin: fused, $paced_rate msg/s, interleaved" >&2
    for ((i = 0; i < runs; i++)); do
        trial "build_main_beside_$name" lo $paced_rate
        TRIAL_BIN="$path" trial "build_$name" lo $paced_rate
    done
    report_label "build_main_beside_$name"
    report_label "build_$name"
    ratio "internal_p50_main_vs_$name" "build_main_beside_$name" "build_$name" 2
    ratio "internal_p99_main_vs_$name" "build_main_beside_$name" "build_$name" 3
    ratio "listener_p50_main_vs_$name" "build_main_beside_$name" "build_$name" 6
done

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '%s\n' "${results[@]}"

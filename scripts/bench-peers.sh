#!/usr/bin/env bash
# Head-to-head benchmarks of Tickwire components against established C/C++ peers, built and
# run in the same invocation on the same machine so the comparison survives VM noise.
#
# One function per peer section (`<name>_section`); each records its figures with
# `record_result`, and the script ends with every figure as `RESULT <name> <value> <unit>`.
# Ratios are "Tickwire is better" when > 1.
#
# Environment: BENCH_RUNS (runs per side, default 5), BENCH_SCRATCH (build outputs,
# default .build-bench/), RING_ITEMS / RING_ROUND_TRIPS (per run, defaults 30M / 1M).
set -euo pipefail
shopt -s inherit_errexit  # a failing build inside $(...) must stop the script too

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRATCH=${BENCH_SCRATCH:-$ROOT/.build-bench}
PEERS_OUT=$SCRATCH/peers
RUNS=${BENCH_RUNS:-5}
RESULTS=()

# ---- shared helpers -------------------------------------------------------------------------

# Installs a Debian package unless it is already installed.
ensure_apt_package() {
    local package=$1
    if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        return
    fi
    echo "installing $package"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
}

# best_median higher|lower VALUE... -> "BEST MEDIAN". `higher` when bigger is better
# (throughput), `lower` when smaller is better (latency). Median of an even count is the
# mean of the middle two.
best_median() {
    local better=$1
    shift
    printf '%s\n' "$@" | sort -g | awk -v better="$better" '
        { value[NR] = $1 }
        END {
            best = (better == "higher") ? value[NR] : value[1]
            median = (NR % 2) ? value[(NR + 1) / 2] : (value[NR / 2] + value[NR / 2 + 1]) / 2
            printf "%.2f %.2f\n", best, median
        }'
}

# ratio NUMERATOR DENOMINATOR -> NUMERATOR / DENOMINATOR to 3 decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a / b }'
}

record_result() {
    RESULTS+=("RESULT $1 $2 $3")
}

# Builds TickwireCore (and what it depends on) in release with cross-module optimization, the
# way the tickwire executable gets it.
build_tickwire_core() {
    swift build -c release --scratch-path "$SCRATCH" -Xswiftc -cross-module-optimization --target TickwireCore
}

# Where build_tickwire_core left its modules and objects.
tickwire_bin_path() {
    swift build -c release --scratch-path "$SCRATCH" --show-bin-path
}

# Compiles a one-file Swift harness against the release-built Tickwire modules: the ring code
# reaches the harness through its @inlinable API, exactly as it reaches the executable.
# The objects go through a static archive so the linker takes only the members the harness
# needs (not, say, TLS code and its libraries).
compile_swift_harness() {
    local source=$1 output=$2 bin=$3
    local archive=$PEERS_OUT/libTickwireForPeers.a
    rm -f "$archive"
    ar rcs "$archive" "$bin"/TickwireCore.build/*.o "$bin"/TickwireSystem.build/*.o "$bin"/CTickwire.build/*.o
    # CTickwire's own module map when it ships one in include/, else the one SwiftPM generated.
    local -a module_map=()
    if [[ ! -f $ROOT/Sources/CTickwire/include/module.modulemap ]]; then
        module_map=(-Xcc -fmodule-map-file="$bin/CTickwire.build/module.modulemap")
    fi
    swiftc -O -wmo -cross-module-optimization -module-name "$(basename "$output")" "$source" \
        -I "$bin/Modules" "${module_map[@]}" -Xcc -I -Xcc "$ROOT/Sources/CTickwire/include" \
        -L "$PEERS_OUT" -lTickwireForPeers -lnuma -lxdp -lbpf \
        -o "$output"
}

# figure NAME OUTPUT -> the value on OUTPUT's line "NAME value".
figure() {
    awk -v name="$1" '$1 == name { print $2 }' <<<"$2"
}

# ---- SPSC ring vs boost::lockfree::spsc_queue ---------------------------------------------------

ring_section() {
    echo "== SPSC ring: Tickwire SpscRing vs boost::lockfree::spsc_queue"
    echo "   64-byte items, capacity 8192, producer on core 0, consumer on core 1, $RUNS runs each"
    ensure_apt_package libboost-dev

    build_tickwire_core
    local bin
    bin=$(tickwire_bin_path)
    mkdir -p "$PEERS_OUT"
    g++ -std=c++17 -O3 -pthread "$ROOT/scripts/peers/ring_peer.cpp" -o "$PEERS_OUT/ring_boost"
    compile_swift_harness "$ROOT/scripts/peers/ring_swift/main.swift" "$PEERS_OUT/ring_swift" "$bin"

    local items=${RING_ITEMS:-30000000} round_trips=${RING_ROUND_TRIPS:-1000000}
    local -a swift_single=() swift_batch=() swift_rtt=() boost_single=() boost_batch=() boost_rtt=()
    local run output
    for ((run = 1; run <= RUNS; run++)); do
        # Alternate the order so drift (thermal, neighbours) does not favour one side.
        for side in $( ((run % 2)) && echo "boost swift" || echo "swift boost"); do
            output=$("$PEERS_OUT/ring_$side" "$items" "$round_trips")
            printf '   run %d %-5s single %7.2f M/s  batch %7.2f M/s  round trip %7.1f ns\n' "$run" "$side" \
                "$(figure throughput_single "$output")" "$(figure throughput_batch "$output")" \
                "$(figure roundtrip "$output")"
            if [[ $side == swift ]]; then
                swift_single+=("$(figure throughput_single "$output")")
                swift_batch+=("$(figure throughput_batch "$output")")
                swift_rtt+=("$(figure roundtrip "$output")")
            else
                boost_single+=("$(figure throughput_single "$output")")
                boost_batch+=("$(figure throughput_batch "$output")")
                boost_rtt+=("$(figure roundtrip "$output")")
            fi
        done
    done

    local ss_best ss_median sb_best sb_median sr_best sr_median
    local bs_best bs_median bb_best bb_median br_best br_median
    read -r ss_best ss_median <<<"$(best_median higher "${swift_single[@]}")"
    read -r sb_best sb_median <<<"$(best_median higher "${swift_batch[@]}")"
    read -r sr_best sr_median <<<"$(best_median lower "${swift_rtt[@]}")"
    read -r bs_best bs_median <<<"$(best_median higher "${boost_single[@]}")"
    read -r bb_best bb_median <<<"$(best_median higher "${boost_batch[@]}")"
    read -r br_best br_median <<<"$(best_median lower "${boost_rtt[@]}")"

    echo
    printf '| %-28s | %-17s | %-17s | %-17s |\n' "ring (best / median)" "single M items/s" "batch M items/s" "round trip ns"
    printf '|%s|%s|%s|%s|\n' "------------------------------" "-------------------" "-------------------" "-------------------"
    printf '| %-28s | %17s | %17s | %17s |\n' "Tickwire SpscRing (Swift)" "$ss_best / $ss_median" "$sb_best / $sb_median" "$sr_best / $sr_median"
    printf '| %-28s | %17s | %17s | %17s |\n' "boost::lockfree::spsc_queue" "$bs_best / $bs_median" "$bb_best / $bb_median" "$br_best / $br_median"
    echo

    # Headline ratios use medians (throughput is bimodal on these VMs); *_best use best runs.
    record_result ring_throughput_vs_boost "$(ratio "$ss_median" "$bs_median")" ratio
    record_result ring_throughput_vs_boost_best "$(ratio "$ss_best" "$bs_best")" ratio
    record_result ring_roundtrip_vs_boost "$(ratio "$br_median" "$sr_median")" ratio
    record_result ring_roundtrip_vs_boost_best "$(ratio "$br_best" "$sr_best")" ratio
    record_result ring_batch_throughput_vs_boost "$(ratio "$sb_median" "$bb_median")" ratio
    record_result ring_batch_throughput_vs_boost_best "$(ratio "$sb_best" "$bb_best")" ratio
    record_result ring_throughput_swift_best "$ss_best" Mitems/s
    record_result ring_throughput_swift_median "$ss_median" Mitems/s
    record_result ring_throughput_boost_best "$bs_best" Mitems/s
    record_result ring_throughput_boost_median "$bs_median" Mitems/s
    record_result ring_batch_throughput_swift_best "$sb_best" Mitems/s
    record_result ring_batch_throughput_swift_median "$sb_median" Mitems/s
    record_result ring_batch_throughput_boost_best "$bb_best" Mitems/s
    record_result ring_batch_throughput_boost_median "$bb_median" Mitems/s
    record_result ring_roundtrip_swift_best "$sr_best" ns
    record_result ring_roundtrip_swift_median "$sr_median" ns
    record_result ring_roundtrip_boost_best "$br_best" ns
    record_result ring_roundtrip_boost_median "$br_median" ns
}

# ---- main -----------------------------------------------------------------------------------

cd "$ROOT"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (two-thread figures suffer if other work runs)"
ring_section
printf '%s\n' "${RESULTS[@]}"

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
# Arguments: the sections to run (ring, json); default all.
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

# ---- JSON: Tickwire's Binance adapter vs simdjson On-Demand -----------------------------------

# Builds TickwireVenues (and what it depends on) in release with cross-module optimization.
build_tickwire_venues() {
    swift build -c release --scratch-path "$SCRATCH" -Xswiftc -cross-module-optimization --target TickwireVenues
}

# compile_swift_harness with the Venues module's objects in the archive too.
compile_swift_venues_harness() {
    local source=$1 output=$2 bin=$3
    local archive=$PEERS_OUT/libTickwireVenuesForPeers.a
    rm -f "$archive"
    ar rcs "$archive" "$bin"/TickwireVenues.build/*.o "$bin"/TickwireCore.build/*.o "$bin"/TickwireSystem.build/*.o \
        "$bin"/CTickwire.build/*.o
    local -a module_map=()
    if [[ ! -f $ROOT/Sources/CTickwire/include/module.modulemap ]]; then
        module_map=(-Xcc -fmodule-map-file="$bin/CTickwire.build/module.modulemap")
    fi
    swiftc -O -wmo -cross-module-optimization -module-name "$(basename "$output")" "$source" \
        -I "$bin/Modules" "${module_map[@]}" -Xcc -I -Xcc "$ROOT/Sources/CTickwire/include" \
        -L "$PEERS_OUT" -lTickwireVenuesForPeers -lnuma -lxdp -lbpf \
        -o "$output"
}

# json_frames CAPTURE OUT: the depth diffs that follow a capture's REST snapshot line, one
# frame per line (the receive timestamps dropped). They chain without a gap.
json_frames() {
    gzip -dc "$1" | awk 'index($0, "{\"lastUpdateId\"") { after = 1; next }
                         after && index($0, "@depth") { sub(/^[0-9]+ /, ""); print }' >"$2"
}

json_section() {
    echo "== JSON: Tickwire Binance adapter vs simdjson On-Demand (libsimdjson-dev), ETHUSDT depth diffs"
    echo "   both: every field (e, E, T, s, U, u, pu, each price/qty) to exact int64 fixed point + the venue's"
    echo "   continuity check; Tickwire also emits the book events. simdjson peer: g++ -O3 -march=native."
    echo "   Tickwire: swiftc -O -wmo -cross-module-optimization (no -march). $RUNS runs each, >= 0.5 s per run."
    ensure_apt_package libsimdjson-dev

    build_tickwire_venues
    local bin
    bin=$(tickwire_bin_path)
    mkdir -p "$PEERS_OUT"
    g++ -std=c++17 -O3 -march=native "$ROOT/scripts/peers/json_peer.cpp" -lsimdjson -o "$PEERS_OUT/json_simdjson"
    compile_swift_venues_harness "$ROOT/scripts/peers/json_swift/main.swift" "$PEERS_OUT/json_swift" "$bin"

    local samples=$ROOT/../shared/samples/binance frames_dir
    frames_dir=$(mktemp -d)
    json_frames "$samples/spot-ethusdt-20240808.gz" "$frames_dir/spot"
    json_frames "$samples/usdm-ethusdt-20240808.gz" "$frames_dir/usdm"

    local -a swift_all=() simd_all=() swift_spot=() simd_spot=() swift_usdm=() simd_usdm=()
    local run side venue output ns messages checksum
    local -A checksums=() counts=() bytes=() per_run=()
    for ((run = 1; run <= RUNS; run++)); do
        for side in $( ((run % 2)) && echo "simdjson swift" || echo "swift simdjson"); do
            for venue in spot usdm; do
                output=$("$PEERS_OUT/json_$side" "$frames_dir/$venue" "$venue" 0.5)
                ns=$(figure ns_per_msg "$output")
                messages=$(figure messages "$output")
                checksum=$(figure checksum "$output")
                counts[$venue]=$messages
                bytes[$venue]=$(figure bytes "$output")
                if [[ -n ${checksums[$venue]:-} && ${checksums[$venue]} != "$checksum" ]]; then
                    echo "json: $side $venue checksum $checksum differs from ${checksums[$venue]}: not the same values" >&2
                    exit 1
                fi
                checksums[$venue]=$checksum
                per_run[$side.$venue]=$ns
                printf '   run %d %-8s %-4s %8.1f ns/msg  (%d msgs, checksum %s)\n' "$run" "$side" "$venue" "$ns" "$messages" "$checksum"
                if [[ $side == swift ]]; then
                    [[ $venue == spot ]] && swift_spot+=("$ns") || swift_usdm+=("$ns")
                else
                    [[ $venue == spot ]] && simd_spot+=("$ns") || simd_usdm+=("$ns")
                fi
            done
            # Both captures together: the mean time per message over all of them.
            local combined
            combined=$(awk -v a="${per_run[$side.spot]}" -v na="${counts[spot]}" -v b="${per_run[$side.usdm]}" -v nb="${counts[usdm]}" \
                'BEGIN { printf "%.2f\n", (a * na + b * nb) / (na + nb) }')
            [[ $side == swift ]] && swift_all+=("$combined") || simd_all+=("$combined")
        done
    done
    rm -rf "$frames_dir"

    local sa_best sa_median ma_best ma_median ss_best ss_median ms_best ms_median su_best su_median mu_best mu_median
    read -r sa_best sa_median <<<"$(best_median lower "${swift_all[@]}")"
    read -r ma_best ma_median <<<"$(best_median lower "${simd_all[@]}")"
    read -r ss_best ss_median <<<"$(best_median lower "${swift_spot[@]}")"
    read -r ms_best ms_median <<<"$(best_median lower "${simd_spot[@]}")"
    read -r su_best su_median <<<"$(best_median lower "${swift_usdm[@]}")"
    read -r mu_best mu_median <<<"$(best_median lower "${simd_usdm[@]}")"
    local spot_size usdm_size
    spot_size=$(( ${bytes[spot]} / ${counts[spot]} ))
    usdm_size=$(( ${bytes[usdm]} / ${counts[usdm]} ))

    echo
    printf '| %-26s | %-20s | %-20s | %-20s |\n' "ns/msg (best / median)" "spot (${counts[spot]} x ${spot_size} B)" "usdm (${counts[usdm]} x ${usdm_size} B)" "all"
    printf '|%s|%s|%s|%s|\n' "----------------------------" "----------------------" "----------------------" "----------------------"
    printf '| %-26s | %20s | %20s | %20s |\n' "Tickwire Binance adapter" "$ss_best / $ss_median" "$su_best / $su_median" "$sa_best / $sa_median"
    printf '| %-26s | %20s | %20s | %20s |\n' "simdjson On-Demand" "$ms_best / $ms_median" "$mu_best / $mu_median" "$ma_best / $ma_median"
    echo

    # > 1: Tickwire takes less time per message than simdjson.
    record_result json_parse_vs_simdjson "$(ratio "$ma_median" "$sa_median")" ratio
    record_result json_parse_vs_simdjson_best "$(ratio "$ma_best" "$sa_best")" ratio
    record_result json_parse_spot_vs_simdjson "$(ratio "$ms_median" "$ss_median")" ratio
    record_result json_parse_usdm_vs_simdjson "$(ratio "$mu_median" "$su_median")" ratio
    record_result json_parse_tickwire_best "$sa_best" ns/msg
    record_result json_parse_tickwire_median "$sa_median" ns/msg
    record_result json_parse_simdjson_best "$ma_best" ns/msg
    record_result json_parse_simdjson_median "$ma_median" ns/msg
    record_result json_parse_tickwire_spot_median "$ss_median" ns/msg
    record_result json_parse_simdjson_spot_median "$ms_median" ns/msg
    record_result json_parse_tickwire_usdm_median "$su_median" ns/msg
    record_result json_parse_simdjson_usdm_median "$mu_median" ns/msg
}

# ---- main -----------------------------------------------------------------------------------

cd "$ROOT"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (two-thread figures suffer if other work runs)"
# Sections to run: the arguments (e.g. `scripts/bench-peers.sh json`), default all.
if (($#)); then sections=("$@"); else sections=(ring json); fi
for section in "${sections[@]}"; do
    "${section}_section"
done
printf '%s\n' "${RESULTS[@]}"

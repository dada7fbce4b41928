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
# Arguments: the sections to run (ring, json, senders, book); default all. SENDER_SECONDS: per run (2).
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

# compile_swift_harness_with SOURCE OUTPUT BIN MODULE...: compiles a one-file Swift harness
# against the release-built Tickwire MODULEs (plus CTickwire): their code reaches the harness
# through the @inlinable API, exactly as it reaches the executable. The objects go through a
# static archive so the linker takes only the members the harness needs.
compile_swift_harness_with() {
    local source=$1 output=$2 bin=$3
    shift 3
    local archive=$PEERS_OUT/lib$(basename "$output")Objects.a module
    rm -f "$archive"
    for module in "$@" CTickwire; do ar rcs "$archive" "$bin/$module.build/"*.o; done
    # CTickwire's own module map when it ships one in include/, else the one SwiftPM generated.
    local -a module_map=()
    if [[ ! -f $ROOT/Sources/CTickwire/include/module.modulemap ]]; then
        module_map=(-Xcc -fmodule-map-file="$bin/CTickwire.build/module.modulemap")
    fi
    swiftc -O -wmo -cross-module-optimization -module-name "$(basename "$output")" "$source" \
        -I "$bin/Modules" "${module_map[@]}" -Xcc -I -Xcc "$ROOT/Sources/CTickwire/include" \
        -L "$PEERS_OUT" -l"$(basename "$output")Objects" -lnuma -lxdp -lbpf -lssl -lcrypto \
        -o "$output"
}

# A harness over TickwireCore (the ring).
compile_swift_harness() {
    compile_swift_harness_with "$1" "$2" "$3" TickwireCore TickwireSystem
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

# A harness over TickwireVenues (the JSON adapters).
compile_swift_venues_harness() {
    compile_swift_harness_with "$1" "$2" "$3" TickwireVenues TickwireCore TickwireSystem
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

# ---- UDP senders: sendto loop, StandardUdpSender, XdpUdpSender, minimal C libxdp TX loop ------

# Builds TickwireTransport (and what it depends on) in release with cross-module optimization.
build_tickwire_transport() {
    swift build -c release --scratch-path "$SCRATCH" -Xswiftc -cross-module-optimization --target TickwireTransport
}

senders_section() {
    local seconds=${SENDER_SECONDS:-2} payload=64 batch=64 port=9000
    echo "== UDP senders: sendto loop vs StandardUdpSender (sendmmsg) vs XdpUdpSender vs a minimal C libxdp TX loop"
    echo "   ${payload}-byte payloads, batches of $batch, ${seconds} s per run, $RUNS runs each, one veth pair between"
    echo "   two namespaces with XDP_DROP on the receiving end (sender cost only). Needs root."
    if ((EUID != 0)); then
        echo "senders: skipped, needs root (network namespaces, AF_XDP)" >&2
        return
    fi
    ensure_apt_package libxdp-dev
    ensure_apt_package libbpf-dev
    command -v clang >/dev/null || ensure_apt_package clang

    build_tickwire_transport
    local bin
    bin=$(tickwire_bin_path)
    mkdir -p "$PEERS_OUT"
    local multiarch
    multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
    clang -O2 -g -Wall -Werror -target bpf -I"/usr/include/$multiarch" -c "$ROOT/bpf/xdp_drop.c" -o "$PEERS_OUT/xdp_drop.o"
    gcc -O2 -Wall "$ROOT/scripts/peers/udp_sendto_peer.c" -o "$PEERS_OUT/senders_sendto"
    gcc -O2 -Wall "$ROOT/scripts/peers/xdp_tx_peer.c" -lxdp -lbpf -o "$PEERS_OUT/senders_c_libxdp"
    gcc -O2 -Wall -shared -fPIC "$ROOT/scripts/peers/malloc_count.c" -o "$PEERS_OUT/malloc_count.so"
    compile_swift_harness_with "$ROOT/scripts/peers/senders_swift/main.swift" "$PEERS_OUT/senders_swift" "$bin" \
        TickwireTransport TickwireCore TickwireSystem

    # Two namespaces joined by veth; the receiving end drops everything at XDP (native mode).
    local ns_tx=tickwire-bench-$$-tx ns_rx=tickwire-bench-$$-rx if_tx=twb$$t if_rx=twb$$r
    trap "ip netns del $ns_tx 2>/dev/null; ip netns del $ns_rx 2>/dev/null" EXIT
    ip netns add "$ns_tx"
    ip netns add "$ns_rx"
    ip link add "$if_tx" netns "$ns_tx" type veth peer name "$if_rx" netns "$ns_rx"
    ip -n "$ns_tx" addr add 10.78.0.1/24 dev "$if_tx"
    ip -n "$ns_rx" addr add 10.78.0.2/24 dev "$if_rx"
    ip -n "$ns_tx" link set "$if_tx" up
    ip -n "$ns_rx" link set "$if_rx" up
    ip -n "$ns_rx" link set dev "$if_rx" xdpdrv obj "$PEERS_OUT/xdp_drop.o" sec xdp
    local rx_mac
    rx_mac=$(ip netns exec "$ns_rx" cat "/sys/class/net/$if_rx/address")
    # AF_XDP does no ARP: the receiver's MAC as a permanent neighbour (the kernel senders use it too).
    ip -n "$ns_tx" neigh replace 10.78.0.2 lladdr "$rx_mac" dev "$if_tx" nud permanent

    local -a sendto_pps=() sendmmsg_pps=() xdp_pps=() c_xdp_pps=()
    local run side output pps
    for ((run = 1; run <= RUNS; run++)); do
        # Rotate the order so drift (neighbours, frequency) does not favour one side.
        local -a order=(sendto sendmmsg xdp c_libxdp)
        order=("${order[@]:run % 4}" "${order[@]:0:run % 4}")
        for side in "${order[@]}"; do
            case $side in
                sendto) output=$(ip netns exec "$ns_tx" "$PEERS_OUT/senders_sendto" 10.78.0.2 $port $payload $batch "$seconds") ;;
                sendmmsg) output=$(ip netns exec "$ns_tx" "$PEERS_OUT/senders_swift" standard "$if_tx" 10.78.0.2 $port $payload $batch "$seconds" 2>/dev/null) ;;
                xdp) output=$(ip netns exec "$ns_tx" "$PEERS_OUT/senders_swift" xdp "$if_tx" 10.78.0.2 $port $payload $batch "$seconds" 2>/dev/null) ;;
                c_libxdp) output=$(ip netns exec "$ns_tx" "$PEERS_OUT/senders_c_libxdp" "$if_tx" 0 "$rx_mac" 10.78.0.2 $port $payload $batch "$seconds") ;;
            esac
            pps=$(figure packets_per_second "$output")
            printf '   run %d %-9s %10.0f packets/s\n' "$run" "$side" "$pps"
            case $side in
                sendto) sendto_pps+=("$pps") ;;
                sendmmsg) sendmmsg_pps+=("$pps") ;;
                xdp) xdp_pps+=("$pps") ;;
                c_libxdp) c_xdp_pps+=("$pps") ;;
            esac
        done
    done
    echo "   XdpUdpSender: $(ip netns exec "$ns_tx" "$PEERS_OUT/senders_swift" xdp "$if_tx" 10.78.0.2 $port $payload $batch 0.1 2>&1 >/dev/null)"
    # Allocation check of both Swift senders' send path (package-benchmark cannot run AF_XDP):
    # malloc calls under an LD_PRELOAD counter for a short and a 10x longer run; the hot path
    # allocates nothing when both counts are equal.
    local kind short long
    for kind in standard xdp; do
        short=$(ip netns exec "$ns_tx" env LD_PRELOAD="$PEERS_OUT/malloc_count.so" "$PEERS_OUT/senders_swift" $kind "$if_tx" 10.78.0.2 $port $payload $batch 0.2 2>&1 | awk '$1 == "malloc_calls" { print $2 }')
        long=$(ip netns exec "$ns_tx" env LD_PRELOAD="$PEERS_OUT/malloc_count.so" "$PEERS_OUT/senders_swift" $kind "$if_tx" 10.78.0.2 $port $payload $batch 2 2>&1 | awk '$1 == "malloc_calls" { print $2 }')
        echo "   $kind sender: $short malloc calls in a 0.2 s run, $long in a 2 s run"
        record_result "senders_${kind}_send_path_mallocs" $((long - short)) mallocs
    done
    ip netns del "$ns_tx"
    ip netns del "$ns_rx"
    trap - EXIT

    local st_best st_median mm_best mm_median xd_best xd_median cx_best cx_median
    read -r st_best st_median <<<"$(best_median higher "${sendto_pps[@]}")"
    read -r mm_best mm_median <<<"$(best_median higher "${sendmmsg_pps[@]}")"
    read -r xd_best xd_median <<<"$(best_median higher "${xdp_pps[@]}")"
    read -r cx_best cx_median <<<"$(best_median higher "${c_xdp_pps[@]}")"

    echo
    printf '| %-36s | %-25s |\n' "sender (best / median)" "packets/s"
    printf '|%s|%s|\n' "--------------------------------------" "---------------------------"
    printf '| %-36s | %25s |\n' "C sendto loop" "$st_best / $st_median"
    printf '| %-36s | %25s |\n' "Tickwire StandardUdpSender" "$mm_best / $mm_median"
    printf '| %-36s | %25s |\n' "Tickwire XdpUdpSender" "$xd_best / $xd_median"
    printf '| %-36s | %25s |\n' "C libxdp TX loop (prefilled frames)" "$cx_best / $cx_median"
    echo

    # Goals (issue 4): sendmmsg >= 1.2x sendto, XDP >= 2x sendmmsg, XDP >= 0.9x the C loop.
    record_result senders_sendmmsg_vs_sendto "$(ratio "$mm_median" "$st_median")" ratio
    record_result senders_xdp_vs_sendmmsg "$(ratio "$xd_median" "$mm_median")" ratio
    record_result senders_xdp_vs_c_libxdp "$(ratio "$xd_median" "$cx_median")" ratio
    record_result senders_sendto_best "$st_best" packets/s
    record_result senders_sendto_median "$st_median" packets/s
    record_result senders_sendmmsg_best "$mm_best" packets/s
    record_result senders_sendmmsg_median "$mm_median" packets/s
    record_result senders_xdp_best "$xd_best" packets/s
    record_result senders_xdp_median "$xd_median" packets/s
    record_result senders_c_libxdp_best "$cx_best" packets/s
    record_result senders_c_libxdp_median "$cx_median" packets/s
}

# ---- Order book: Tickwire OrderBook vs naive Swift books ------------------------------------

# The book benchmarks and their naive peers live in Benchmarks/CoreBenchmarks/BookBenchmarks.swift;
# each run here is one `swift package benchmark` process over them, and a figure is that run's
# p50. Rows: figure|Tickwire benchmark:ops|naive dictionary:ops|naive sorted array:ops, where ops
# is the benchmark's operations per iteration (its scalingFactor: the JMH export reports time
# per iteration, unscaled).
BOOK_FIGURES=(
    "update|BookUpdateTopWeighted1000Levels:1000|NaiveDictionaryBookUpdateTopWeighted1000Levels:1000|NaiveSortedArrayBookUpdateTopWeighted1000Levels:1000"
    "snapshot|BookSnapshotApply1000LevelsPerSide:1|NaiveDictionaryBookSnapshotApply1000LevelsPerSide:1|"
    "snapshot_5000|BookSnapshotApply5000LevelsPerSide:1|NaiveDictionaryBookSnapshotApply5000LevelsPerSide:1|"
    "read|BookBestAndTop10Read:1000|NaiveDictionaryBookBestAndTop10Read:1|"
)

# book_p50s JMH_FILE -> "NAME p50_ns_per_iteration" per benchmark (JMH reports µs per iteration).
book_p50s() {
    python3 - "$1" <<'PY'
import json, sys
for benchmark in json.load(open(sys.argv[1])):
    name = benchmark["benchmark"].rsplit(".", 1)[-1]
    wall = benchmark.get("secondaryMetrics", {}).get("Time (wall clock)")
    if wall:
        print(name, wall["scorePercentiles"]["50.0"] * 1000)
PY
}

book_section() {
    echo "== Order book: Tickwire OrderBook vs a naive dictionary book and a naive sorted-array book"
    echo "   package-benchmark (release), Benchmarks/CoreBenchmarks/BookBenchmarks.swift; a figure is one"
    echo "   run's p50 per operation; $RUNS runs (each one 'swift package benchmark' process)"
    local out=$PEERS_OUT/book filter=''
    rm -rf "$out"
    mkdir -p "$out"
    local row figure cell
    for row in "${BOOK_FIGURES[@]}"; do
        IFS='|' read -r figure cells <<<"$row"
        for cell in ${cells//|/ }; do filter+="${filter:+|}${cell%%:*}"; done
    done
    local run
    for ((run = 1; run <= RUNS; run++)); do
        swift package --scratch-path "$SCRATCH/package-benchmark" --allow-writing-to-directory "$out" benchmark \
            --target CoreBenchmarks --filter "^($filter)\$" --format jmh --path "$out/run$run" --no-progress --quiet >/dev/null
        book_p50s "$out/run$run/Current_run.jmh.json" >"$out/run$run.p50"
    done

    # ns_per_op_runs NAME:OPS -> that benchmark's p50 per operation in every run.
    ns_per_op_runs() {
        local name=${1%%:*} ops=${1##*:} run
        for ((run = 1; run <= RUNS; run++)); do
            awk -v name="$name" -v ops="$ops" '$1 == name { printf "%.2f\n", $2 / ops; found = 1 }
                END { if (!found) { print "book: no result for " name > "/dev/stderr"; exit 1 } }' "$out/run$run.p50"
        done
    }

    echo
    printf '| %-40s | %-21s | %-21s | %-21s |\n' "ns/op (best / median)" "Tickwire book" "naive dictionary" "naive sorted array"
    printf '|%s|%s|%s|%s|\n' "------------------------------------------" "-----------------------" "-----------------------" "-----------------------"
    local -A label=([update]="level update, 1000 levels, top-weighted" [snapshot]="snapshot apply, 1000 levels a side"
                    [snapshot_5000]="snapshot apply, 5000 levels a side" [read]="best bid/ask + top 10 a side")
    local tickwire dictionary sorted stats t_best t_median d_best d_median s_best s_median
    for row in "${BOOK_FIGURES[@]}"; do
        IFS='|' read -r figure tickwire dictionary sorted <<<"$row"
        stats=$(ns_per_op_runs "$tickwire")
        read -r t_best t_median <<<"$(best_median lower $stats)"
        stats=$(ns_per_op_runs "$dictionary")
        read -r d_best d_median <<<"$(best_median lower $stats)"
        s_best=- s_median=-
        if [[ -n $sorted ]]; then
            stats=$(ns_per_op_runs "$sorted")
            read -r s_best s_median <<<"$(best_median lower $stats)"
        fi
        printf '| %-40s | %21s | %21s | %21s |\n' "${label[$figure]}" "$t_best / $t_median" "$d_best / $d_median" \
            "$([[ -n $sorted ]] && echo "$s_best / $s_median" || echo -)"
        # > 1: the Tickwire book takes less time per operation than the naive one.
        record_result "book_${figure}_vs_naive_dict" "$(ratio "$d_median" "$t_median")" ratio
        record_result "book_${figure}_vs_naive_dict_best" "$(ratio "$d_best" "$t_best")" ratio
        if [[ -n $sorted ]]; then
            record_result "book_${figure}_vs_naive_sorted_array" "$(ratio "$s_median" "$t_median")" ratio
            record_result "book_${figure}_vs_naive_sorted_array_best" "$(ratio "$s_best" "$t_best")" ratio
            record_result "book_${figure}_naive_sorted_array_median" "$s_median" ns/op
        fi
        record_result "book_${figure}_tickwire_best" "$t_best" ns/op
        record_result "book_${figure}_tickwire_median" "$t_median" ns/op
        record_result "book_${figure}_naive_dict_median" "$d_median" ns/op
    done
    echo
}

# ---- main -----------------------------------------------------------------------------------

cd "$ROOT"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (two-thread figures suffer if other work runs)"
# Sections to run: the arguments (e.g. `scripts/bench-peers.sh json`), default all.
if (($#)); then sections=("$@"); else sections=(ring json senders); fi
for section in "${sections[@]}"; do
    "${section}_section"
done
printf '%s\n' "${RESULTS[@]}"

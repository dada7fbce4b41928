# Shared by scripts/bench-e2e.sh and scripts/pgo.sh (source it): start the built-in exchange
# for a venue, write the venue file pointing at it, write a main.toml, and stop what was
# started. Every process started here is remembered in E2E_PIDS and ended by e2e_stop_all.

E2E_PIDS=()
# CPUs for the helpers (simulators, listener) when set, e.g. "0": keeps them off the
# pipeline's pinned CPU, as on a box where the feed handler owns its cores.
E2E_SIDE_CPUS="${E2E_SIDE_CPUS:-}"

# e2e_side: the command prefix that places a helper process on E2E_SIDE_CPUS (if set).
e2e_side() { if [[ -n "$E2E_SIDE_CPUS" ]]; then echo "taskset -c $E2E_SIDE_CPUS"; fi; }

# name|symbols|price scale|quantity scale|ws path|depth|extra venue-file line
e2e_venue_spec() {
    case "$1" in
        bybit-linear) echo "bybit-linear|BTCUSDT,ETHUSDT|2|3|/v5/public/linear|50|" ;;
        bybit-spot)   echo "bybit-spot|BTCUSDT,ETHUSDT|2|6|/v5/public/spot|50|" ;;
        okx)          echo "okx|BTC-USDT,ETH-USDT|2|8|/ws/v5/public|400|channel = \"books\"" ;;
        coinbase)     echo "coinbase|BTC-USD,ETH-USD|2|8||1000|" ;;
        kraken)       echo "kraken|BTC/USD,ETH/USD|1|8|/v2|10|" ;;
        *) echo "e2e: no generator spec for venue $1" >&2; return 2 ;;
    esac
}

# e2e_network NETWORK: where a trial's processes run for NETWORK (lo, veth-standard or
# veth-xdp): sets E2E_RUN_NS and E2E_LISTEN_NS (empty: this namespace), E2E_LISTEN_IF and the
# [sender] settings E2E_SENDER_SETTINGS for the generated main.toml.
e2e_network() {
    if [[ $1 == veth-* ]]; then
        E2E_RUN_NS="$E2E_NS_A" E2E_LISTEN_NS="$E2E_NS_B" E2E_LISTEN_IF="$E2E_IF_B"
        E2E_SENDER_SETTINGS=(sender.kind="\"${1#veth-}\"" sender.interface="\"$E2E_IF_A\"" sender.fallback=false)
    else
        E2E_RUN_NS="" E2E_LISTEN_NS="" E2E_LISTEN_IF="lo"
        E2E_SENDER_SETTINGS=(sender.interface='"lo"' sender.multicast_loop=true)
    fi
}

# e2e_wait_line FILE PREFIX [SECONDS]: prints the first line of FILE starting with PREFIX.
e2e_wait_line() {
    local file="$1" prefix="$2" deadline=$((SECONDS + ${3:-20})) line
    while (( SECONDS < deadline )); do
        line="$(grep -m1 "^$prefix" "$file" 2>/dev/null || true)"
        if [[ -n "$line" ]]; then echo "${line#"$prefix"}"; return 0; fi
        sleep 0.05
    done
    echo "e2e: no '$prefix' line in $file after ${3:-20} s" >&2
    return 1
}

# e2e_generate BIN DIR VENUE RATE MESSAGES [NS]: starts `simulate` generating VENUE's book
# events and writes DIR/VENUE.toml. NS: run it inside that network namespace.
e2e_generate() {
    local bin="$1" dir="$2" venue="$3" rate="$4" messages="$5" ns="${6:-}"
    local spec name symbols price quantity path depth extra
    spec="$(e2e_venue_spec "$venue")" || return 2
    IFS='|' read -r name symbols price quantity path depth extra <<<"$spec"
    ${ns:+ip netns exec "$ns"} $(e2e_side) "$bin" simulate --venue "$name" --symbols "$symbols" --price-scale "$price" \
        --quantity-scale "$quantity" --rate "$rate" --messages "$messages" --seed 7 \
        >"$dir/sim-$name.out" 2>"$dir/sim-$name.err" &
    E2E_PIDS+=($!)
    local url
    url="$(e2e_wait_line "$dir/sim-$name.out" "listening ")" || return 1
    url="${url%/}"
    {
        echo "adapter = \"$name\""
        echo "ws_url = \"$url$path\""
        echo "symbols = [$(sed 's/[^,]*/"&"/g; s/,/, /g' <<<"$symbols")]"
        echo "depth = $depth"
        if [[ -n "$extra" ]]; then echo "$extra"; fi
        echo "[scales]"
        local symbol
        for symbol in ${symbols//,/ }; do echo "\"$symbol\" = { price = $price, quantity = $quantity }"; done
    } >"$dir/$name.toml"
}

# e2e_replay_binance BIN DIR FILE [NS]: replays a Binance spot capture as fast as possible
# (WebSocket and REST) and writes DIR/binance-spot.toml.
e2e_replay_binance() {
    local bin="$1" dir="$2" file="$3" ns="${4:-}"
    ${ns:+ip netns exec "$ns"} $(e2e_side) "$bin" simulate --venue binance-spot --replay "$file" --replay-speed 0 \
        --price-scale 2 --quantity-scale 8 >"$dir/sim-binance-spot.out" 2>"$dir/sim-binance-spot.err" &
    E2E_PIDS+=($!)
    local ws rest
    ws="$(e2e_wait_line "$dir/sim-binance-spot.out" "listening ")" || return 1
    rest="$(e2e_wait_line "$dir/sim-binance-spot.out" "rest ")" || return 1
    cat >"$dir/binance-spot.toml" <<TOML
adapter = "binance-spot"
ws_url = "${ws%/}"
rest_url = "${rest%/}"
symbols = ["ETHUSDT"]
depth = 5000
streams = ["depth@100ms", "trade", "bookTicker"]
[scales]
ETHUSDT = { price = 2, quantity = 8 }
TOML
}

# e2e_main_toml FILE GROUP VENUES... -- KEY=VALUE...: a main.toml for `run --config`.
# Keys are section.key (pipeline.batch=1, host.mlockall='"off"', sender.kind='"xdp"'); an
# empty value (pipeline.fused_cpu=) leaves the key out, undoing an earlier setting.
e2e_main_toml() {
    local file="$1" group="$2"; shift 2
    local venues=() settings=()
    while [[ $# -gt 0 && "$1" != "--" ]]; do venues+=("\"$1.toml\""); shift; done
    [[ "${1:-}" == "--" ]] && shift
    # A later SECTION.KEY replaces an earlier one (defaults first, then overrides).
    local setting
    declare -A latest=()
    for setting in "$@"; do
        if [[ -z "${latest[${setting%%=*}]+set}" ]]; then settings+=("${setting%%=*}"); fi
        latest[${setting%%=*}]="${setting#*=}"
    done
    {
        echo "venues = [$(IFS=,; echo "${venues[*]}")]"
        local section
        for section in channel pipeline sender host metrics; do
            echo "[$section]"
            if [[ $section == channel ]]; then echo "line_a = \"$group\""; fi
            if [[ $section == metrics ]]; then echo 'listen = ""'; fi
            for setting in "${settings[@]}"; do
                if [[ "${setting%%.*}" == "$section" && -n "${latest[$setting]}" ]]; then echo "${setting#*.} = ${latest[$setting]}"; fi
            done
        done
    } >"$file"
}

# Waits for PID up to SECONDS; kills it (TERM, then KILL) when it overstays. Returns its status.
e2e_wait_pid() {
    local pid="$1" deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        if (( SECONDS >= deadline )); then
            echo "e2e: process $pid still running after $2 s: stopping it" >&2
            kill -TERM "$pid" 2>/dev/null; sleep 1; kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            return 124
        fi
        sleep 0.05
    done
    wait "$pid" 2>/dev/null
}

e2e_stop_all() {
    local pid
    for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${E2E_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    E2E_PIDS=()
}

# Veth pair between two namespaces (as the tests' VethNamespacePair): E2E_NS_A/B, E2E_IF_A/B.
e2e_veth_up() {
    E2E_NS_A="tickwire-bench-a" E2E_NS_B="tickwire-bench-b" E2E_IF_A="twbencha" E2E_IF_B="twbenchb"
    E2E_ADDR_A="10.77.251.1" E2E_ADDR_B="10.77.251.2"
    e2e_veth_down
    ip netns add "$E2E_NS_A" && ip netns add "$E2E_NS_B" &&
    ip link add "$E2E_IF_A" netns "$E2E_NS_A" mtu 1500 type veth peer name "$E2E_IF_B" netns "$E2E_NS_B" mtu 1500 || return 1
    local side ns ifname address
    for side in A B; do
        ns="E2E_NS_$side" ifname="E2E_IF_$side" address="E2E_ADDR_$side"
        ip -n "${!ns}" addr add "${!address}/24" dev "${!ifname}" &&
        ip -n "${!ns}" link set lo up &&
        ip -n "${!ns}" link set "${!ifname}" up &&
        ip -n "${!ns}" route add 224.0.0.0/4 dev "${!ifname}" || return 1
    done
}

e2e_veth_down() {
    ip netns del tickwire-bench-a 2>/dev/null || true
    ip netns del tickwire-bench-b 2>/dev/null || true
}

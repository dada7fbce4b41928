#!/usr/bin/env bash
# Head to head with cryptofeed (issue 6): the same Binance USD-M capture replayed over wss:// by
# `tickwire simulate` to cryptofeed 3.x (its BinanceFutures feed, a separate Python process),
# to `tickwire watch`, to `tickwire run` -> `tickwire listen`, and to a client that only reads
# frames (the transport floor), one client per simulator, all in one run.
#
#   scripts/bench-cryptofeed.sh [--bin PATH] [--runs N] [--rates "R1 R2 ..."] [--quick]
#                               [--python PATH] [--keep DIR] [--nice N]
#
# Latency (paced at 10k recorded frames/s, `runs` times each, clients interleaved), per depth
# update joined on its venue update id with the simulator's --send-log:
#   internal   frame received by the process -> book visible: cryptofeed's L2 book callback time
#              minus the receipt_timestamp it passes; watch's emit_ns - recv_ns (recv_ns is the
#              kernel's receive stamp, so this also holds the socket, TLS and the WebSocket reader,
#              which cryptofeed's receipt_timestamp, taken after its websockets library has read,
#              decrypted and reassembled the frame, leaves out); run's "read returned->packet sent"
#              (from its exit summary: after the read and decryption, like cryptofeed's start)
#              and listen's "venue frame received->packet sent" (kernel stamp)
#   end to end simulator send -> book visible (cryptofeed callback, watch line, floor read)
# Rate ramp: each client at rising --replay-rate until it no longer keeps up (the span from the
# first depth update sent to the last one visible exceeds the send span by more than 5 %) or
# its final book is wrong; the rate reported is frames delivered per second at the last step it kept up.
# Books: cryptofeed's whole final book and watch's last top-20 lines against the reference
# (Binance's documented sync rule applied to the capture, scripts/peers/cryptofeed_bench.py).
# CPU: user + system seconds of each client process (wait4).
# --nice N runs the simulator and every client at that nice value (e.g. -10 on a shared
# machine whose other work would otherwise decide the figures); all sides get the same.
#
# Needs: Python >= 3.13 (cryptofeed 3.x; with 3.11 pip picks 2.4.1), found as python3.13+ on
# PATH or under ~/.pyenv/versions, or --python; gcc and libssl-dev (installed by scripts/setup-host.sh);
# ../shared/samples/binance/ beside the repo. cryptofeed (AGPL) is installed from PyPI into a
# venv under the scratch folder and runs as its own process: none of its code is in this repo.
# Ends with RESULT lines; the *_vs_cryptofeed ratios are cryptofeed's figure / Tickwire's for
# latencies and Tickwire's / cryptofeed's for the rate (>1: Tickwire better).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

bin="" runs=3 python="" keep="" quick=0 prio=()
rates="5000 10000 20000 40000 60000 80000 100000 150000 200000 300000 400000 500000 650000 800000 1000000"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bin) bin="$(realpath "$2")"; shift ;;
        --runs) runs="$2"; shift ;;
        --rates) rates="$2"; shift ;;
        --python) python="$2"; shift ;;
        --keep) keep="$(realpath -m "$2")"; shift ;;
        --nice) prio=(nice -n "$2"); shift ;;
        --quick) quick=1 ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "bench-cryptofeed.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [[ $quick == 1 ]]; then runs=1; rates="5000 20000 60000 200000 1000000"; fi
paced=10000

samples="$repo/../shared/samples/binance"
capture="$samples/usdm-ethusdt-20240808.gz"
[[ -r "$capture" ]] || { echo "bench-cryptofeed.sh: $capture not found (the samples live in ../shared/samples beside the repo)" >&2; exit 1; }

scratch="$repo/.build-bench-cryptofeed"
mkdir -p "$scratch"
work="${keep:-$(mktemp -d "$scratch/run.XXXXXX")}"
mkdir -p "$work"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    [[ -n "$keep" ]] || rm -rf "$work"
}
trap cleanup EXIT

scripts/setup-host.sh >&2   # gcc and libssl-dev for the floor client

# ---------------------------------------------------------------- Python 3.13+, cryptofeed 3.x
if [[ -z "$python" ]]; then
    for candidate in python3.15 python3.14 python3.13 "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
            python="$(command -v "$candidate")"; break
        fi
    done
fi
if [[ -z "$python" ]]; then
    echo "bench-cryptofeed.sh: no Python >= 3.13 found (cryptofeed 3.x needs it; with older ones pip installs 2.4.1)" >&2
    echo "  remedy: pyenv install 3.13 (or any python3.13+ on PATH), or --python PATH" >&2
    exit 1
fi
venv="$scratch/venv-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check 'cryptofeed>=3,<4' >&2
cryptofeed_version="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("cryptofeed"))')"
if [[ "$cryptofeed_version" != 3.* ]]; then
    echo "bench-cryptofeed.sh: cryptofeed $cryptofeed_version installed in $venv, expected 3.x (Python: $python)" >&2
    exit 1
fi
py="$venv/bin/python"
harness="$repo/scripts/peers/cryptofeed_bench.py"
echo "bench-cryptofeed.sh: cryptofeed $cryptofeed_version on $("$py" --version)" >&2

# ---------------------------------------------------------------- tickwire, the floor, the truth
if [[ -z "$bin" ]]; then bin="$(scripts/build-release.sh | tail -1)"; fi
[[ -x "$bin" ]] || { echo "bench-cryptofeed.sh: $bin is not an executable" >&2; exit 1; }
floor="$scratch/ws_floor_reader"
cc -O2 -Wall -o "$floor" scripts/peers/ws_floor_reader.c -lssl -lcrypto
"$py" "$harness" reference --capture "$capture" --venue usdm >"$work/reference.json"
last_update_id="$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["update_id"])' "$work/reference.json")"
capture_frames="$(gzip -dc "$capture" | wc -l)"

# ---------------------------------------------------------------- one trial
# trial CLIENT RATE LABEL: a simulator replaying the capture at RATE recorded frames/s (0: as
# fast as it can) to CLIENT (cryptofeed, watch, run, floor); appends a JSON line to
# $work/LABEL.jsonl (the summary plus cpu_s, frames, rate).
trial() {
    local client="$1" rate="$2" label="$3"
    local dir="$work/$label.$client.$(date +%s%N)"
    mkdir -p "$dir/cache"
    local pacing=(--replay-speed 0)
    if [[ $rate != 0 ]]; then pacing=(--replay-rate "$rate"); fi
    "${prio[@]}" "$bin" simulate --venue binance-usdm --replay "$capture" "${pacing[@]}" --price-scale 2 --quantity-scale 3 \
        --tls --ca-out "$dir/ca.pem" --send-log "$dir/send.log" >"$dir/sim.out" 2>"$dir/sim.err" &
    local sim=$!
    pids+=($sim)
    local deadline=$((SECONDS + 30)) port=""
    while [[ -z "$port" ]] && (( SECONDS < deadline )); do
        port="$(grep -o 'listening wss://127.0.0.1:[0-9]*' "$dir/sim.out" 2>/dev/null | cut -d: -f3 || true)"
        sleep 0.05
    done
    [[ -n "$port" ]] || { echo "bench-cryptofeed.sh: the simulator did not start (see $dir)" >&2; return 1; }
    cat >"$dir/usdm.toml" <<TOML
adapter = "binance-usdm"
ws_url = "wss://127.0.0.1:$port"
rest_url = "https://127.0.0.1:$port"
symbols = ["ETHUSDT"]
depth = 1000
streams = ["depth@0ms", "bookTicker"]
tls_ca_file = "ca.pem"
[scales]
ETHUSDT = { price = 2, quantity = 3 }
TOML
    local status=0 kind visible
    case "$client" in
        cryptofeed)
            kind=cryptofeed visible="$dir/visible.txt"
            (cd "$dir" && SSL_CERT_FILE="$dir/ca.pem" XDG_CACHE_HOME="$dir/cache" timeout 300 \
                "${prio[@]}" "$py" "$harness" cputime "$dir/cpu.txt" "$py" "$harness" feed --venue usdm \
                --ws "wss://127.0.0.1:$port" --rest "https://127.0.0.1:$port" --out "$dir" \
                --last-update-id "$last_update_id" 2>"$dir/client.err") || status=$?
            ;;
        watch)
            kind=watch visible="$dir/watch.out"
            timeout 300 "${prio[@]}" "$py" "$harness" cputime "$dir/cpu.txt" "$bin" watch --config "$dir/usdm.toml" \
                --format jsonl --depth 20 --once >"$dir/watch.out" 2>"$dir/client.err" || status=$?
            ;;
        run)
            # The publisher's own figures (receive -> send posted, -> book rebuilt at the listener).
            "${prio[@]}" "$bin" listen --channel 239.77.6.1:30677 --iface lo --format stats --exit-on-end \
                >"$dir/listen.out" 2>"$dir/listen.err" &
            local listen=$!
            pids+=($listen)
            sleep 0.3
            timeout 300 "${prio[@]}" "$py" "$harness" cputime "$dir/cpu.txt" "$bin" run --venue "$dir/usdm.toml" \
                --channel 239.77.6.1:30677 --iface lo --multicast-loop --once >"$dir/run.out" 2>"$dir/client.err" || status=$?
            local waited=0
            while kill -0 "$listen" 2>/dev/null && (( waited < 100 )); do sleep 0.1; waited=$((waited + 1)); done
            kill -TERM "$listen" 2>/dev/null || true
            wait "$listen" 2>/dev/null || true
            ;;
        floor)
            kind=floor visible="$dir/floor.txt"
            timeout 300 "${prio[@]}" "$py" "$harness" cputime "$dir/cpu.txt" "$floor" 127.0.0.1 "$port" \
                "/public/stream?streams=ethusdt@depth@0ms/ethusdt@bookTicker" "$dir/ca.pem" "$dir/floor.txt" \
                2>"$dir/client.err" &
            local reader=$!
            sleep 0.2   # the replay waits at the snapshot line for a REST request, as a client makes
            "$py" -c 'import ssl, sys, urllib.request
urllib.request.urlopen(sys.argv[1], context=ssl.create_default_context(cafile=sys.argv[2])).read()' \
                "https://127.0.0.1:$port/fapi/v1/depth?symbol=ETHUSDT&limit=1000" "$dir/ca.pem" || true
            wait "$reader" || status=$?
            ;;
    esac
    wait "$sim" 2>/dev/null || true
    if [[ $status != 0 ]]; then
        echo "bench-cryptofeed.sh: $label $client exited $status (see $dir, kept)" >&2
        keep="$work"
        echo '{"failed": true}' >>"$work/$label.$client.jsonl"
        return 0
    fi
    local frames cpu
    frames="$(grep -oE '[0-9]+ frames' "$dir/sim.err" | head -1 | cut -d' ' -f1)"
    cpu="$(awk '{print $1 + $2}' "$dir/cpu.txt")"
    local summary
    if [[ $client == run ]]; then
        local end leg
        end="$(grep '^listen: end:' "$dir/listen.err" || true)"
        summary="{\"kind\": \"run\""
        for leg in 'venue frame received->packet sent' 'venue frame received->book rebuilt'; do
            local figures
            figures="$(grep -oE "$leg µs \(n=[0-9]+\): p50 [0-9.]+ p99 [0-9.]+ p99.9 [0-9.]+ max [0-9.]+" <<<"$end" | awk '{print $(NF-6), $(NF-4), $NF}' || true)"
            read -r p50 p99 max <<<"${figures:-null null null}"
            summary+=", \"${leg##*->}\": {\"p50\": $p50, \"p99\": $p99, \"max\": $max}"
        done
        local from_read
        from_read="$(grep -m1 'latency: ' "$dir/client.err" | grep -oE "read returned->packet sent µs \(n=[0-9]+\): p50 [0-9.]+ p99 [0-9.]+ p99.9 [0-9.]+ max [0-9.]+" | awk '{print $(NF-6), $(NF-4), $NF}' || true)"
        read -r p50 p99 max <<<"${from_read:-null null null}"
        summary+=", \"read returned\": {\"p50\": $p50, \"p99\": $p99, \"max\": $max}"
        summary+="}"
    else
        local book_args=()
        if [[ $kind != floor ]]; then book_args=(--reference "$work/reference.json" --book "$dir/book.json"); fi
        summary="$("$py" "$harness" summarize --kind "$kind" --send-log "$dir/send.log" --visible "$visible" \
            --samples "$work/$label.$client.samples.$(date +%s%N)" "${book_args[@]}")"
    fi
    "$py" - "$summary" "$cpu" "${frames:-0}" "$rate" >>"$work/$label.$client.jsonl" <<'PY'
import json, sys
summary = json.loads(sys.argv[1])
summary.update(cpu_s=float(sys.argv[2]), frames=int(sys.argv[3]), offered=int(sys.argv[4]))
span = summary.get('send_span_s')
summary['delivered_per_s'] = summary['frames'] / span if span else None
print(json.dumps(summary))
PY
    printf '  %-9s %-10s %s\n' "$label" "$client" "$(tail -1 "$work/$label.$client.jsonl" | cut -c1-240)" >&2
    [[ -n "$keep" ]] || rm -rf "$dir"
}

# ---------------------------------------------------------------- latency: paced, interleaved
echo "bench-cryptofeed.sh: paced $paced recorded frames/s, $runs runs of floor, watch, run, cryptofeed ($work)" >&2
for ((i = 0; i < runs; i++)); do
    for client in floor watch run cryptofeed; do trial "$client" "$paced" paced; done
done

# ---------------------------------------------------------------- rate ramp
# A step passes when the client kept up (keepup >= 0.95) and its book is right (floor: no book).
passes() {
    "$py" - "$1" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
ok = not r.get('failed') and r.get('keepup', 0) >= 0.95 and r.get('book_ok', True)
sys.exit(0 if ok else 1)
PY
}
echo "bench-cryptofeed.sh: rate ramp ($rates recorded frames/s) until a client no longer keeps up" >&2
for client in cryptofeed watch floor; do
    for rate in $rates; do
        trial "$client" "$rate" "ramp$rate"
        passes "$work/ramp$rate.$client.jsonl" || break
    done
done

# ---------------------------------------------------------------- results
"$py" - "$work" "$rates" "$runs" <<'PY'
import glob, json, os, statistics, sys
work, rates, runs = sys.argv[1], [int(r) for r in sys.argv[2].split()], int(sys.argv[3])

def rows(label, client):
    path = os.path.join(work, f'{label}.{client}.jsonl')
    if not os.path.exists(path):
        return []
    return [r for r in map(json.loads, open(path)) if not r.get('failed')]

def stat(values, how):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return min(values) if how == 'best' else statistics.median(values)

out = []
def result(name, value, unit):
    if value is not None:
        out.append(f'RESULT {name} {value:.6g} {unit}')

figures = {}
for client, legs in (('cryptofeed', ('internal', 'e2e')), ('watch', ('internal', 'e2e')), ('floor', ('e2e',))):
    runs_ = rows('paced', client)
    for leg in legs:
        for q in ('p50', 'p99', 'max'):
            for how in ('best', 'median'):
                value = stat([r[leg][q] for r in runs_], how)
                figures[(client, leg, q, how)] = value
                result(f'{client}_{leg}_{q}_{how}', value, 'us')
    result(f'{client}_paced_cpu_median', stat([r['cpu_s'] for r in runs_], 'median'), 's')
    result(f'{client}_paced_books_ok', sum(1 for r in runs_ if r.get('book_ok', True)) / max(1, len(runs_)), 'fraction')
run_rows = rows('paced', 'run')
for leg, name in (('packet sent', 'run_receive_to_send'), ('read returned', 'run_read_to_send'), ('book rebuilt', 'run_receive_to_listener_book')):
    for q in ('p50', 'p99', 'max'):
        for how in ('best', 'median'):
            result(f'{name}_{q}_{how}', stat([r[leg][q] for r in run_rows if r.get(leg)], how), 'us')
result('run_paced_cpu_median', stat([r['cpu_s'] for r in run_rows], 'median'), 's')

sustained = {}
for client in ('cryptofeed', 'watch', 'floor'):
    best, kept_all = None, True
    for rate in rates:
        r = rows(f'ramp{rate}', client)
        if not r or not (r[-1].get('keepup', 0) >= 0.95 and r[-1].get('book_ok', True)):
            kept_all = False
            break
        # The simulator does not always reach the offered rate: the most delivered counts.
        if best is None or r[-1]['delivered_per_s'] > best['delivered_per_s']:
            best = r[-1]
    sustained[client] = best
    if best:
        result(f'{client}_sustained_frames_per_s', best['delivered_per_s'], 'frames/s')
        result(f'{client}_sustained_offered', best['offered'], 'recorded_frames/s')
        result(f'{client}_sustained_cpu', best['cpu_s'], 's')
        if kept_all:
            out.append(f'NOTE {client} kept up at every step up to {rates[-1]}/s: its rate is a lower bound')

def ratio(name, theirs, ours):
    if theirs is not None and ours:
        result(name, theirs / ours, 'x')
ratio('internal_p50_vs_cryptofeed', figures[('cryptofeed', 'internal', 'p50', 'median')], figures[('watch', 'internal', 'p50', 'median')])
# Like for like: both clocks start once the frame's bytes are read and decrypted.
ratio('internal_read_p50_vs_cryptofeed', figures[('cryptofeed', 'internal', 'p50', 'median')],
      stat([r['read returned']['p50'] for r in run_rows if r.get('read returned')], 'median'))
ratio('e2e_p50_vs_cryptofeed', figures[('cryptofeed', 'e2e', 'p50', 'median')], figures[('watch', 'e2e', 'p50', 'median')])
if sustained['cryptofeed'] and sustained['watch']:
    ratio('rate_vs_cryptofeed', sustained['watch']['delivered_per_s'], sustained['cryptofeed']['delivered_per_s'])
print('\n'.join(out))
PY

#!/usr/bin/env python3
"""scripts/bench-cryptofeed.sh's Python side (ours; cryptofeed itself is only imported from the
venv the script builds, none of its code is in the repo).

  feed      run cryptofeed's Binance (spot) or BinanceFutures (USD-M) feed against the local
            simulator; one `<update_id> <receipt_ns> <callback_ns>` line per book callback,
            the final book as JSON, a summary line
  reference the final book of a capture by Binance's documented sync rule (the truth)
  cputime   run a command, write its `<user_s> <system_s> <wall_s>` (wait4's rusage) to a file
  summarize join a trial's visible times with the simulator's send log on the update id:
            latency percentiles, books compared, throughput; one JSON line
"""
import argparse
import asyncio
import gzip
import json
import os
import sys
import time
from decimal import Decimal


def normalized(levels):
    """[[price, qty], ...] as exact decimals, trailing zeros dropped, in the order given."""
    return [[str(Decimal(p).normalize()), str(Decimal(q).normalize())] for p, q in levels]


# ---------------------------------------------------------------- reference

def reference_book(capture, futures):
    """The documented rule: the REST snapshot, then every depth event it does not cover, in
    stream order (spot drops u <= lastUpdateId, USD-M u < lastUpdateId; the capture is gapless)."""
    opener = gzip.open if capture.endswith('.gz') else open
    snapshot, events = None, []
    with opener(capture, 'rt') as lines:
        for line in lines:
            frame = line.split(' ', 1)[1]
            if frame.startswith('{"lastUpdateId"'):
                snapshot = json.loads(frame)
            elif '"depthUpdate"' in frame:
                events.append(json.loads(frame)['data'])
    if snapshot is None:
        sys.exit(f'{capture}: no REST snapshot line')
    last = snapshot['lastUpdateId']
    book = {'b': {Decimal(p): Decimal(q) for p, q in snapshot['bids']},
            'a': {Decimal(p): Decimal(q) for p, q in snapshot['asks']}}
    for event in events:
        if event['u'] < last or (not futures and event['u'] == last):
            continue
        for side in ('b', 'a'):
            for p, q in event[side]:
                p, q = Decimal(p), Decimal(q)
                if q == 0:
                    book[side].pop(p, None)
                else:
                    book[side][p] = q
        last = event['u']
    return {'update_id': last,
            'bids': normalized(sorted(book['b'].items(), reverse=True)),
            'asks': normalized(sorted(book['a'].items()))}


# ---------------------------------------------------------------- feed

def feed(args):
    from cryptofeed import FeedHandler
    from cryptofeed.connection import RestEndpoint, WebsocketEndpoint
    from cryptofeed.defines import L2_BOOK, TICKER
    from cryptofeed.exchanges import Binance, BinanceFutures
    from cryptofeed.symbols import Symbols

    futures = args.venue == 'usdm'
    base = BinanceFutures if futures else Binance
    symbol = 'ETH-USDT-PERP' if futures else 'ETH-USDT'

    class LocalBinance(base):
        """The venue's feed pointed at the simulator; the USD-M capture's stream is depth@0ms."""
        websocket_endpoints = [WebsocketEndpoint(args.ws, options=base.websocket_endpoints[0].options)]
        rest_endpoints = [RestEndpoint(args.rest, routes=base.rest_endpoints[0].routes)]
        valid_depth_intervals = base.valid_depth_intervals | {'0ms'}

    # The symbol list would come from exchangeInfo on the internet: given here instead.
    Symbols.set(LocalBinance.id, {symbol: 'ETHUSDT'},
                {'tick_size': {symbol: '0.01'}, 'instrument_type': {symbol: 'perpetual' if futures else 'spot'}})

    updates, receipts, callbacks = [], [], []
    state = {'book': None, 'tickers': 0, 'first_cpu': None, 'last_callback': None}

    def finish(status):
        cpu = os.times()
        book = state['book']
        final = {'update_id': updates[-1] if updates else None, 'bids': [], 'asks': []}
        if book is not None:
            final['bids'] = normalized(book.book.bids.to_list())
            final['asks'] = normalized(book.book.asks.to_list())
        with open(os.path.join(args.out, 'book.json'), 'w') as out:
            json.dump(final, out)
        with open(os.path.join(args.out, 'visible.txt'), 'w') as out:
            out.writelines(f'{u} {r} {c}\n' for u, r, c in zip(updates, receipts, callbacks))
        streamed = cpu.user + cpu.system - state['first_cpu'] if state['first_cpu'] is not None else 0
        print(f'cryptofeed_bench: {len(updates)} book callbacks, {state["tickers"]} tickers, '
              f'cpu {cpu.user + cpu.system:.3f} s ({streamed:.3f} s while streaming)', file=sys.stderr, flush=True)
        os._exit(status)

    async def on_book(book, receipt_timestamp):
        now = time.time_ns()
        if state['first_cpu'] is None:
            cpu = os.times()
            state['first_cpu'] = cpu.user + cpu.system
        updates.append(book.sequence_number)
        receipts.append(int(receipt_timestamp * 1e9))
        callbacks.append(now)
        state['book'] = book
        state['last_callback'] = time.monotonic()
        if book.sequence_number == args.last_update_id:
            finish(0)

    async def on_ticker(ticker, receipt_timestamp):
        state['tickers'] += 1

    async def watchdog():
        started = time.monotonic()
        while True:
            await asyncio.sleep(0.25)
            last = state['last_callback']
            if (last is not None and time.monotonic() - last > args.idle_seconds) or time.monotonic() - started > args.timeout:
                print(f'cryptofeed_bench: stopped before update id {args.last_update_id} arrived', file=sys.stderr, flush=True)
                finish(3)

    handler = FeedHandler(config={'uvloop': True, 'log': {'filename': os.path.join(args.out, 'feedhandler.log'), 'level': 'WARNING'}})
    handler.add_feed(LocalBinance(symbols=[symbol], channels=[L2_BOOK, TICKER],
                                  callbacks={L2_BOOK: on_book, TICKER: on_ticker},
                                  depth_interval='0ms' if futures else '100ms'))

    async def run():
        asyncio.get_running_loop().create_task(watchdog())
        await handler.run_async(install_signal_handlers=False)

    # As FeedHandler.run does: uvloop when the config asks for it (the default).
    loop_factory = None
    if handler.config.uvloop:
        import uvloop
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(run())


# ---------------------------------------------------------------- summarize

def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def latency(values_ns):
    values = sorted(v / 1000 for v in values_ns)
    return {'n': len(values), 'p50': percentile(values, 0.50), 'p99': percentile(values, 0.99),
            'max': values[-1] if values else None, 'samples_us': values}


def summarize(args):
    sends = {}
    with open(args.send_log) as log:
        for line in log:
            _, u, ns = line.split()
            sends.setdefault(int(u), int(ns))
    # kind: cryptofeed lines `u receipt_ns callback_ns`; watch JSON lines; floor `u recv_ns`.
    visible = []   # (update_id, internal_ns or None, visible_ns)
    valid = True
    final = None
    with open(args.visible) as lines:
        for line in lines:
            if args.kind == 'watch':
                if not line.startswith('{'):
                    continue
                record = json.loads(line)
                if not record['valid']:
                    if record.get('reason') != 'disconnected':   # the session's end, after the last update
                        valid = False
                    continue
                final = record
                visible.append((record['update_id'], record['emit_ns'] - record['recv_ns'], record['emit_ns']))
            elif args.kind == 'cryptofeed':
                u, receipt, callback = map(int, line.split())
                visible.append((u, callback - receipt, callback))
            else:
                u, received = map(int, line.split())
                visible.append((u, None, received))
    # One visible time per update id, the last (cryptofeed's snapshot callback carries the
    # snapshot's id, which a depth event may share).
    latest = {u: (i, v) for u, i, v in visible}
    joined = sorted(((u, i, v, sends[u]) for u, (i, v) in latest.items() if u in sends), key=lambda row: row[3])
    result = {'kind': args.kind, 'sent': len(sends), 'visible': len(visible), 'joined': len(joined)}
    result['internal'] = latency([i for _, i, _, _ in joined if i is not None])
    result['e2e'] = latency([v - s for _, _, v, s in joined])
    if joined:
        first_send = min(s for _, _, _, s in joined)
        send_span = max(s for _, _, _, s in joined) - first_send
        visible_span = max(v for _, _, v, _ in joined) - first_send
        # Keeping up: from the first send, the last update became visible (almost) as soon as
        # the last one was sent; a client that falls behind stretches this span.
        result['keepup'] = send_span / visible_span if visible_span > 0 else 1.0
        result['send_span_s'] = send_span / 1e9
    if args.reference:
        with open(args.reference) as f:
            truth = json.load(f)
        depth = args.depth
        if args.kind == 'cryptofeed':
            with open(args.book) as f:
                book = json.load(f)
            full = book['bids'] == truth['bids'] and book['asks'] == truth['asks']
            result['book_full_equal'] = full
        else:   # watch: its last line carries the top `depth` levels
            book = {'update_id': final['update_id'] if final else None,
                    'bids': normalized(final['bids']) if final else [], 'asks': normalized(final['asks']) if final else []}
        top = book['bids'][:depth] == truth['bids'][:depth] and book['asks'][:depth] == truth['asks'][:depth]
        result['book_top_equal'] = top
        result['final_update_id_equal'] = book.get('update_id') == truth['update_id']
        result['book_ok'] = top and result['final_update_id_equal'] and valid and result.get('book_full_equal', True)
    if args.samples:
        with open(args.samples, 'w') as out:
            for kind in ('internal', 'e2e'):
                out.write(kind + ' ' + ' '.join(f'{v:.3f}' for v in result[kind]['samples_us']) + '\n')
    for kind in ('internal', 'e2e'):
        del result[kind]['samples_us']
    print(json.dumps(result))


def cputime(args):
    import subprocess
    started = time.monotonic()
    child = subprocess.Popen(args.argv)
    _, status, usage = os.wait4(child.pid, 0)
    with open(args.out, 'w') as out:
        out.write(f'{usage.ru_utime:.3f} {usage.ru_stime:.3f} {time.monotonic() - started:.3f}\n')
    sys.exit(os.waitstatus_to_exitcode(status))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    f = sub.add_parser('feed')
    f.add_argument('--venue', choices=['usdm', 'spot'], required=True)
    f.add_argument('--ws', required=True)
    f.add_argument('--rest', required=True)
    f.add_argument('--out', required=True)
    f.add_argument('--last-update-id', type=int, required=True)
    f.add_argument('--idle-seconds', type=float, default=10)
    f.add_argument('--timeout', type=float, default=300)
    r = sub.add_parser('reference')
    r.add_argument('--capture', required=True)
    r.add_argument('--venue', choices=['usdm', 'spot'], required=True)
    s = sub.add_parser('summarize')
    s.add_argument('--kind', choices=['cryptofeed', 'watch', 'floor'], required=True)
    s.add_argument('--send-log', required=True)
    s.add_argument('--visible', required=True)
    s.add_argument('--book')
    s.add_argument('--reference')
    s.add_argument('--depth', type=int, default=20)
    s.add_argument('--samples', help='write the latency samples (µs) here, for scripts/plot-benchmarks.py')
    c = sub.add_parser('cputime')
    c.add_argument('out')
    c.add_argument('argv', nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.command == 'cputime':
        cputime(args)
    elif args.command == 'feed':
        feed(args)
    elif args.command == 'reference':
        json.dump(reference_book(args.capture, args.venue == 'usdm'), sys.stdout)
    else:
        summarize(args)


if __name__ == '__main__':
    main()

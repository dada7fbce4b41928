#!/usr/bin/env python3
"""PNG plots for docs/BENCHMARKS.md from the outputs bench scripts keep (run it through
scripts/plot-benchmarks.sh, which installs matplotlib into a venv).

  --cryptofeed DIR  a folder kept by `scripts/bench-cryptofeed.sh --keep DIR`:
                    cryptofeed-latency-cdf.png (internal and end-to-end latency CDFs per client,
                    the paced runs pooled) and cryptofeed-rate.png (delivered vs offered rate
                    in the ramp, a cross where a client stopped keeping up)
  --e2e DIR         a folder kept by `scripts/bench-e2e.sh --keep DIR`: e2e-rate.png (the
                    fused ramp's measured msgs/s and latency p50/p99 per offered rate)
  --out DIR         where the PNGs go (default docs/img)
"""
import argparse
import glob
import json
import os
import re

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

CLIENTS = {'floor': ('frame reader (floor)', 'tab:gray'), 'watch': ('tickwire watch', 'tab:blue'),
           'cryptofeed': ('cryptofeed 3', 'tab:red')}


def cdf(axis, values, label, color, style):
    values = sorted(values)
    if not values:
        return
    n = len(values)
    axis.plot(values, [(i + 1) / n for i in range(n)], style, color=color, label=f'{label} (n={n})', linewidth=1.4)


def cryptofeed_plots(folder, out):
    figure, axis = plt.subplots(figsize=(8, 4.8))
    for client, (name, color) in CLIENTS.items():
        pooled = {'internal': [], 'e2e': []}
        for path in glob.glob(os.path.join(folder, f'paced.{client}.samples.*')):
            for line in open(path):
                kind, *values = line.split()
                pooled[kind].extend(float(v) for v in values)
        cdf(axis, pooled['e2e'], f'{name}: send -> visible', color, '-')
        if client != 'floor':
            cdf(axis, pooled['internal'], f'{name}: received -> visible', color, '--')
    axis.set_xscale('log')
    axis.set_xlabel('latency (µs, log scale)')
    axis.set_ylabel('fraction of depth updates')
    axis.set_title('Binance USD-M capture over wss://, paced 10k recorded frames/s')
    axis.grid(True, which='both', alpha=0.3)
    axis.legend(fontsize=8, loc='lower right')
    figure.tight_layout()
    figure.savefig(os.path.join(out, 'cryptofeed-latency-cdf.png'), dpi=110)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(8, 4.8))
    for client, (name, color) in CLIENTS.items():
        steps = []
        for path in glob.glob(os.path.join(folder, f'ramp*.{client}.jsonl')):
            rows = [json.loads(line) for line in open(path)]
            rows = [r for r in rows if not r.get('failed')]
            if rows:
                steps.append(rows[-1])
        steps.sort(key=lambda r: r['offered'])
        if not steps:
            continue
        kept = [r for r in steps if r.get('keepup', 0) >= 0.95 and r.get('book_ok', True)]
        axis.plot([r['offered'] for r in steps], [r['delivered_per_s'] for r in steps], '-o', color=color, label=name,
                  markersize=4)
        lost = [r for r in steps if r not in kept]
        axis.plot([r['offered'] for r in lost], [r['delivered_per_s'] for r in lost], 'x', color=color, markersize=10)
    axis.set_xscale('log')
    axis.set_yscale('log')
    axis.set_xlabel('offered: recorded frames/s (--replay-rate)')
    axis.set_ylabel('frames/s delivered to the client')
    axis.set_title('Rate ramp (x: the client no longer kept up, or its book was wrong)')
    axis.grid(True, which='both', alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(os.path.join(out, 'cryptofeed-rate.png'), dpi=110)
    plt.close(figure)


def e2e_plots(folder, out):
    # bench-e2e.sh's ramp: fused_lo_rate_RATE.tsv, "msgs/s int_p50 int_p99 int_p999 int_max ..." per run.
    steps = []
    for path in glob.glob(os.path.join(folder, 'fused_lo_rate_*.tsv')):
        rate = int(re.search(r'rate_(\d+)\.tsv$', path).group(1))
        rows = [line.split() for line in open(path) if not line.startswith('FAILED')]
        rows = [r for r in rows if r and r[1] != '-']
        if rows:
            steps.append((rate, sorted(float(r[0]) for r in rows), sorted(float(r[1]) for r in rows),
                          sorted(float(r[2]) for r in rows)))
    if not steps:
        print(f'plot-benchmarks: no fused_lo_rate_*.tsv in {folder}')
        return
    steps.sort(key=lambda step: step[0] or float('inf'))   # rate 0 (as fast as possible) last
    median = lambda values: values[len(values) // 2]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    labels = [str(rate) if rate else 'max' for rate, *_ in steps]
    left.plot(labels, [median(s[1]) for s in steps], '-o')
    left.set_xlabel('offered msgs/s')
    left.set_ylabel('measured msgs/s (median)')
    right.plot(labels, [median(s[2]) for s in steps], '-o', label='receive -> send p50')
    right.plot(labels, [median(s[3]) for s in steps], '-o', label='receive -> send p99')
    right.set_yscale('log')
    right.set_ylabel('µs')
    right.set_xlabel('offered msgs/s')
    right.legend(fontsize=8)
    for axis in (left, right):
        axis.grid(True, alpha=0.3)
    figure.suptitle('tickwire run (fused, loopback): throughput and latency vs rate')
    figure.tight_layout()
    figure.savefig(os.path.join(out, 'e2e-rate.png'), dpi=110)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--cryptofeed')
    parser.add_argument('--e2e')
    parser.add_argument('--out', default='docs/img')
    args = parser.parse_args()
    if not args.cryptofeed and not args.e2e:
        parser.error('give --cryptofeed DIR and/or --e2e DIR (folders the bench scripts kept with --keep)')
    os.makedirs(args.out, exist_ok=True)
    if args.cryptofeed:
        cryptofeed_plots(args.cryptofeed, args.out)
    if args.e2e:
        e2e_plots(args.e2e, args.out)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""PNG plots for docs/BENCHMARKS.md from the outputs bench scripts keep (run it through
scripts/plot-benchmarks.sh, which installs matplotlib into a venv).

  --cryptofeed DIR  a folder kept by `scripts/bench-cryptofeed.sh --keep DIR`:
                    cryptofeed-latency-cdf.png (internal and end-to-end latency CDFs per client,
                    the paced runs pooled) and cryptofeed-rate.png (delivered vs offered rate
                    in the ramp, a cross where a client stopped keeping up)
  --e2e DIR         a folder kept by `scripts/bench-e2e.sh --keep DIR`: e2e-rate.png (the
                    fused ramp's measured msgs/s and latency p50/p99 per offered rate),
                    e2e-latency-cdf-stages.png (each latency leg of the 50k msg/s loopback runs,
                    both topologies) and e2e-latency-cdf-senders.png (loopback, veth standard,
                    veth AF_XDP), from the histograms run and listen wrote with
                    --latency-histogram (every run of a scenario pooled)
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


# --latency-histogram rows: "histogram value_ns count cumulative_count fraction".
STAGES = [('run-latency.txt', 'read_returned_to_packet_sent', 'internal: read returned -> packet sent', 'tab:blue'),
          ('run-latency.txt', 'frame_received_to_packet_sent', 'wire: kernel receive stamp -> packet sent', 'tab:orange'),
          ('listen-latency.txt', 'packet_sent_to_received', 'listener: packet sent -> received', 'tab:green'),
          ('listen-latency.txt', 'frame_received_to_book_rebuilt', 'whole: kernel receive stamp -> book rebuilt in listen', 'tab:red')]
SENDERS = [('fused_lo_50k', 'loopback (standard sender)', 'tab:blue'),
           ('fused_veth_standard_50k', 'veth, standard sender (sendmmsg)', 'tab:orange'),
           ('fused_veth_xdp_50k', 'veth, AF_XDP sender', 'tab:green')]


def pooled_histogram(folder, label, file, name):
    """{value_ns: count} of histogram NAME over every kept run of scenario LABEL."""
    counts = {}
    for path in glob.glob(os.path.join(folder, f'{label}.*', file)):
        for line in open(path):
            fields = line.split()
            if len(fields) == 5 and fields[0] == name:
                counts[int(fields[1])] = counts.get(int(fields[1]), 0) + int(fields[2])
    return counts


def histogram_cdf(axes, counts, label, color, style):
    """The CDF (left axis) and the fraction above each value (right axis, log: the tail)."""
    if not counts:
        return False
    values = sorted(counts)
    total = sum(counts.values())
    cumulative, fractions = 0, []
    for value in values:
        cumulative += counts[value]
        fractions.append(cumulative / total)
    micros = [value / 1000 for value in values]
    axes[0].step(micros, fractions, style, where='post', color=color, label=f'{label} (n={total})', linewidth=1.3)
    # 1 - F down to the last sample's 1/total (the final step is 0: not drawable on a log axis).
    axes[1].step(micros[:-1], [1 - f for f in fractions[:-1]], style, where='post', color=color, linewidth=1.3)
    return True


def cdf_figure(title, curves, path):
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    drawn = [histogram_cdf(axes, *curve) for curve in curves]
    if not any(drawn):
        plt.close(figure)
        return False
    for axis in axes:
        axis.set_xscale('log')
        axis.set_xlabel('latency (µs, log scale)')
        axis.grid(True, which='both', alpha=0.3)
    axes[0].set_ylabel('fraction of samples at or below')
    axes[1].set_yscale('log')
    axes[1].set_ylabel('fraction above (log: the tail)')
    figure.legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc='lower center', ncol=2)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.14, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def e2e_latency_plots(folder, out):
    curves = []
    for label, style, topology in [('fused_lo_50k', '-', 'fused'), ('staged_lo_50k', '--', 'staged')]:
        for file, name, stage, color in STAGES:
            curves.append((pooled_histogram(folder, label, file, name), f'{topology}, {stage}', color, style))
    if not cdf_figure('tickwire run -> listen, 50k msg/s on loopback: latency per leg (solid fused, dashed staged)',
                      curves, os.path.join(out, 'e2e-latency-cdf-stages.png')):
        print(f'plot-benchmarks: no run/listen-latency.txt of fused_lo_50k or staged_lo_50k in {folder}')
    curves = []
    for label, sender, color in SENDERS:
        curves.append((pooled_histogram(folder, label, 'run-latency.txt', 'frame_received_to_packet_sent'),
                       f'{sender}: kernel receive stamp -> packet sent', color, '-'))
        curves.append((pooled_histogram(folder, label, 'listen-latency.txt', 'packet_sent_to_received'),
                       f'{sender}: packet sent -> received by listen', color, '--'))
    if not cdf_figure('tickwire run (fused) -> listen, 50k msg/s: latency per sender (solid in run, dashed on the wire)',
                      curves, os.path.join(out, 'e2e-latency-cdf-senders.png')):
        print(f'plot-benchmarks: no run/listen-latency.txt of the sender scenarios in {folder}')


def e2e_plots(folder, out):
    e2e_latency_plots(folder, out)
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

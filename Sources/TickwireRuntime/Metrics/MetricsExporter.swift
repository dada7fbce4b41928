import Prometheus
import Synchronization

/// Turns a `CounterBlock` into the Prometheus text exposition (format 0.0.4) on a control
/// thread. Counters and gauges go through swift-prometheus's `PrometheusCollectorRegistry`
/// (one `Counter` or `Gauge` per slot, made at init; each render moves them to the block's
/// values). The latency histograms are rendered here from their bucket slots, because a
/// registry histogram can only be fed one observation at a time.
public final class MetricsExporter: Sendable {
    public let block: CounterBlock
    public let registry: PrometheusCollectorRegistry
    private let series: Mutex<[Series]>

    private enum Instrument: Sendable {
        case counter(Counter)
        case gauge(Gauge)
    }

    private struct Series: Sendable {
        var slot: CounterSlot
        var instrument: Instrument
        /// The value the counter was last moved to.
        var exported: UInt64 = 0
    }

    public init(block: CounterBlock, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.block = block
        self.registry = registry
        series = Mutex(block.layout.counters.map { descriptor in
            let labels = descriptor.labels.map { ($0.name, $0.value) }
            let name = Self.name(descriptor.name, help: descriptor.help)
            let instrument: Instrument = switch descriptor.kind {
            case .counter: .counter(registry.makeCounter(descriptor: name, labels: labels))
            case .gauge: .gauge(registry.makeGauge(descriptor: name, labels: labels))
            }
            return Series(slot: descriptor.slot, instrument: instrument)
        })
    }

    /// Our names are complete (`tickwire_feed_messages_total`): no separate unit part.
    static func name(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Reads every slot and moves the registry's metrics to the values read.
    public func refresh() {
        series.withLock { series in
            for index in series.indices {
                let value = block.load(series[index].slot)
                switch series[index].instrument {
                case .counter(let counter):
                    // A slot below what was exported means its owner started over: so does the counter.
                    if value < series[index].exported {
                        counter.reset()
                        series[index].exported = 0
                    }
                    counter.increment(by: Int64(clamping: value - series[index].exported))
                case .gauge(let gauge):
                    gauge.set(to: Double(value))
                }
                series[index].exported = value
            }
        }
    }

    /// The whole exposition: the registry's metrics, then the histograms.
    public func render() -> [UInt8] {
        refresh()
        var text = registry.emitToBuffer()
        appendHistograms(to: &text)
        return text
    }

    private func appendHistograms(to text: inout [UInt8]) {
        var named: Set<String> = []
        for histogram in block.layout.histograms {
            if named.insert(histogram.name).inserted {
                text.append(contentsOf: "# HELP \(histogram.name) \(Self.escapeHelp(histogram.help))\n".utf8)
                text.append(contentsOf: "# TYPE \(histogram.name) histogram\n".utf8)
            }
            let snapshot = block.snapshot(histogram.slots)
            let labels = histogram.labels.map { "\($0.name)=\"\(Self.escapeLabelValue($0.value))\"" }
            let labelPrefix = labels.map { $0 + "," }.joined()
            var cumulative: UInt64 = 0
            for bucket in 0..<LatencyHistogramSlots.finiteBucketCount {
                cumulative &+= snapshot.buckets[bucket]
                let bound = Self.seconds(nanoseconds: LatencyHistogramSlots.upperBoundNanoseconds(bucket))
                text.append(contentsOf: "\(histogram.name)_bucket{\(labelPrefix)le=\"\(bound)\"} \(cumulative)\n".utf8)
            }
            let count = snapshot.count
            let braced = labels.isEmpty ? "" : "{" + labels.joined(separator: ",") + "}"
            text.append(contentsOf: "\(histogram.name)_bucket{\(labelPrefix)le=\"+Inf\"} \(count)\n".utf8)
            text.append(contentsOf: "\(histogram.name)_sum\(braced) \(Self.seconds(nanoseconds: snapshot.sumNanoseconds))\n".utf8)
            text.append(contentsOf: "\(histogram.name)_count\(braced) \(count)\n".utf8)
        }
    }

    /// Exact decimal seconds ("0.000000128"): no binary floating point in bucket bounds.
    static func seconds(nanoseconds: UInt64) -> String {
        let whole = nanoseconds / 1_000_000_000
        var fraction = nanoseconds % 1_000_000_000
        guard fraction != 0 else { return "\(whole)" }
        var digits = 9
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        let text = String(fraction)
        return "\(whole)." + String(repeating: "0", count: digits - text.count) + text
    }

    static func escapeLabelValue(_ value: String) -> String {
        value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
    }

    static func escapeHelp(_ help: String) -> String {
        help.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }
}

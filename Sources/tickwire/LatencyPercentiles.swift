import Histogram

/// `µs (n=N): p50 … p99 … p99.9 … max …` of a nanosecond histogram, as `listen` and `run` print it.
func latencyPercentiles(_ histogram: Histogram<UInt64>) -> String {
    func micros(_ ns: UInt64) -> String {
        let tenths = (ns + 50) / 100
        return "\(tenths / 10).\(tenths % 10)"
    }
    return "µs (n=\(histogram.totalCount)): p50 \(micros(histogram.valueAtPercentile(50))) "
        + "p99 \(micros(histogram.valueAtPercentile(99))) p99.9 \(micros(histogram.valueAtPercentile(99.9))) "
        + "max \(micros(histogram.max))"
}

import Histogram

#if canImport(Glibc)
import Glibc
#endif

/// `--latency-histogram FILE` of `run` and `listen`: every latency histogram the command keeps,
/// written whole when it exits (never while it runs), for CDF plots beyond the printed
/// percentiles (scripts/plot-benchmarks.py). Text, one row per non-empty histogram bucket:
///
///     # tickwire latency histograms: histogram value_ns count cumulative_count fraction
///     read_returned_to_packet_sent 4095 12 12 0.0012
///
/// `value_ns` is the bucket's highest value (3 significant digits), `count` the samples in it,
/// `cumulative_count` the samples at or below it and `fraction` that over the histogram's total
/// (the CDF). Rows of one histogram are consecutive and rise in value; a histogram without
/// samples has no rows.
enum LatencyHistogramFile {
    static let header = "# tickwire latency histograms: histogram value_ns count cumulative_count fraction\n"

    static func text(_ histograms: [(name: String, histogram: Histogram<UInt64>)]) -> String {
        var text = header
        for (name, histogram) in histograms where histogram.totalCount > 0 {
            let total = Double(histogram.totalCount)
            for bucket in histogram.recordedValues() {
                text += "\(name) \(bucket.value) \(bucket.count) \(bucket.totalCountToThisValue) \(Double(bucket.totalCountToThisValue) / total)\n"
            }
        }
        return text
    }

    /// Creates (or empties) the file before the command starts its work, so a path that cannot
    /// be written is a usage error at once rather than a lost distribution at the end.
    static func prepare(_ path: String, fail: (String) -> Never) {
        guard writeTextFile(path, header) else {
            fail("--latency-histogram: cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// false when the file cannot be written (the caller reports it).
    static func write(_ path: String, _ histograms: [(name: String, histogram: Histogram<UInt64>)]) -> Bool {
        writeTextFile(path, text(histograms))
    }
}

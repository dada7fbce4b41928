import Benchmark

// One benchmark executable for the Core hot path; each area registers its own set.
// Hot-path benchmarks assert a malloc count of 0 through `hotPathConfiguration`.
let benchmarks: @Sendable () -> Void = {
    fixedPointBenchmarks()
    ringBenchmarks()
    bookBenchmarks()
    wireBenchmarks()
    venueExampleBenchmarks()
    venueParseBenchmarks()
    checksumBenchmarks()
    senderBenchmarks()
    consumerBenchmarks()
    publisherBenchmarks()
    pipelineBenchmarks()
}

/// Benchmarks on the ingest → book → send path must not allocate. (No `.cpuTotal`: reading
/// it allocates inside the measured region and would hide the hot path's own count.)
var hotPathConfiguration: Benchmark.Configuration {
    Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        maxDuration: .seconds(2),
        maxIterations: 1_000_000,
        thresholds: [.mallocCountTotal: .init(absolute: [.p0: 0, .p25: 0, .p50: 0, .p75: 0, .p90: 0, .p99: 0, .p100: 0])]
    )
}

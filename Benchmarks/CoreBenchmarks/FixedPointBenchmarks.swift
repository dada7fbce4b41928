import Benchmark
import TickwireCore

/// Prices and quantities as Binance sends them (quoted, 8 decimal places on the wire).
private let sampleDecimals = ["61234.56000000", "0.00421000", "3366.10", "12.5", "0.00000001", "2710.99000000", "150.000"]

func fixedPointBenchmarks() {
    Benchmark("FixedPoint_parse", configuration: hotPathConfiguration) { benchmark in
        // One contiguous buffer of the samples, parsed by offset: what the JSON scanner will do.
        let bytes = Array(sampleDecimals.joined().utf8)
        var ranges: [(Int, Int)] = []
        var offset = 0
        for text in sampleDecimals { ranges.append((offset, text.utf8.count)); offset += text.utf8.count }
        let scale = Scale(8)
        benchmark.startMeasurement()
        bytes.withUnsafeBufferPointer { buffer in
            for _ in benchmark.scaledIterations {
                for (start, count) in ranges {
                    blackHole(try? DecimalText.parse(buffer.baseAddress! + start, count: count, scale: scale))
                }
            }
        }
    }

    Benchmark("FixedPoint_format", configuration: hotPathConfiguration) { benchmark in
        let values: [Int64] = [6_123_456_000_000, 421_000, 336_610_000_000, 1_250_000_000, 1, -271_099_000_000]
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: DecimalText.maxFormattedLength, alignment: 8)
        defer { output.deallocate() }
        let scale = Scale(8)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for value in values {
                blackHole(DecimalText.format(value, scale: scale, into: output))
            }
        }
    }
}

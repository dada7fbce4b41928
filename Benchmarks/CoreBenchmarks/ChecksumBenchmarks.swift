import Benchmark
import TickwireCore
import TickwireVenues

// The venue checksums `BookKeeper` verifies after every message: OKX's CRC-32 over the top 25
// levels a side (prices at 2 decimals, quantities at 8, as the generated okx recording) and
// Kraken's over the top 10 (1 and 8). 1000 checksums an iteration (scalingFactor .kilo: times
// are per checksum); the expected value is one no book has, so every call does the full work.

func checksumBenchmarks() {
    var perChecksum = hotPathConfiguration
    perChecksum.scalingFactor = .kilo
    let book = ChecksumBenchmarkBook()

    for (name, checksum, priceScale) in [
        ("VenueChecksumOKXTop25", VenueChecksum.okxTop25(1), Scale(2)),
        ("VenueChecksumKrakenTop10", VenueChecksum.krakenTop10(1), Scale(1)),
    ] {
        Benchmark(name, configuration: perChecksum) { benchmark in
            var matched = 0
            book.withBook { book in
                for _ in benchmark.scaledIterations where checksum.matches(book, priceScale: priceScale, quantityScale: Scale(8)) {
                    matched &+= 1
                }
            }
            blackHole(matched)
        }
    }
}

/// 50 levels a side around 60000.00 with 8-decimal quantities of varied lengths.
private final class ChecksumBenchmarkBook {
    private let table: BookTable
    private let id = InstrumentId(0)

    init() {
        do {
            table = try BookTable(capacity: 1, levelBudget: BookTable.levelBudget(books: 1, levelsPerSide: 50))
            try table.activate(id, levelsPerSide: 50)
        } catch {
            fatalError("book table for checksum benchmarks: \(error)")
        }
        table.withBook(id) { book in
            for depth in Int64(0)..<50 {
                let quantity = Quantity(mantissa: 301_472_204 &* (depth + 1) % 2_000_000_000 + 1)
                book.set(.bid, price: Price(mantissa: 6_000_000 - 1 - depth * 3), quantity: quantity)
                book.set(.ask, price: Price(mantissa: 6_000_000 + depth * 7), quantity: quantity)
            }
        }
    }

    func withBook<R>(_ body: (OrderBook) -> R) -> R { table.withBook(id, body) }
}

import Benchmark
import TickwireCore

// Order book benchmarks, each next to a naive Swift peer (timed only; see naivePeerConfiguration).
// Inputs (op sequences, snapshots) are built once at registration, outside measurement.
// Per-op benchmarks run 1000 ops per iteration with scalingFactor .kilo, so the reported
// times are per op.

func bookBenchmarks() {
    var perOp = hotPathConfiguration
    perOp.scalingFactor = .kilo
    var naivePerOp = naivePeerConfiguration
    naivePerOp.scalingFactor = .kilo

    let bookUnderTest = BenchmarkBook(levelsPerSide: BookTable.defaultLevelsPerSide)
    let ops = topWeightedUpdates(count: perOp.scalingFactor.rawValue)
    let book1000 = (bids: bookSide(.bid, levels: 1000), asks: bookSide(.ask, levels: 1000))
    let book5000 = (bids: bookSide(.bid, levels: 5000), asks: bookSide(.ask, levels: 5000))

    // MARK: level updates

    Benchmark("BookUpdateTopWeighted1000Levels", configuration: perOp) { benchmark in
        bookUnderTest.withBook { book in
            ops.withUnsafeBufferPointer { ops in
                for index in benchmark.scaledIterations {
                    book.set(ops[index].side, price: ops[index].price, quantity: ops[index].quantity)
                }
            }
        }
    } setup: {
        bookUnderTest.withBook { $0.applySnapshot(bids: book1000.bids, asks: book1000.asks) }
    }

    var dictionaryBook = NaiveDictionaryBook()
    Benchmark("NaiveDictionaryBookUpdateTopWeighted1000Levels", configuration: naivePerOp) { benchmark in
        for index in benchmark.scaledIterations {
            dictionaryBook.set(ops[index].side, price: ops[index].price, quantity: ops[index].quantity)
        }
    } setup: {
        dictionaryBook.replace(.bid, with: book1000.bids)
        dictionaryBook.replace(.ask, with: book1000.asks)
    }

    var sortedArrayBook = NaiveSortedArrayBook()
    Benchmark("NaiveSortedArrayBookUpdateTopWeighted1000Levels", configuration: naivePerOp) { benchmark in
        for index in benchmark.scaledIterations {
            sortedArrayBook.set(ops[index].side, price: ops[index].price, quantity: ops[index].quantity)
        }
    } setup: {
        sortedArrayBook.replace(.bid, with: book1000.bids)
        sortedArrayBook.replace(.ask, with: book1000.asks)
    }

    // MARK: snapshots (both sides per iteration)

    for (levels, snapshot) in [(1000, book1000), (5000, book5000)] {
        Benchmark("BookSnapshotApply\(levels)LevelsPerSide", configuration: hotPathConfiguration) { _ in
            bookUnderTest.withBook { book in
                snapshot.bids.withUnsafeBufferPointer { bids in
                    snapshot.asks.withUnsafeBufferPointer { asks in book.applySnapshot(bids: bids, asks: asks) }
                }
            }
        }

        Benchmark("NaiveDictionaryBookSnapshotApply\(levels)LevelsPerSide", configuration: naivePeerConfiguration) { _ in
            dictionaryBook.replace(.bid, with: snapshot.bids)
            dictionaryBook.replace(.ask, with: snapshot.asks)
        }
    }

    // MARK: reads: best bid/ask and the top 10 of each side

    let top10 = UnsafeMutableBufferPointer<BookLevel>.allocate(capacity: 10)
    Benchmark("BookBestAndTop10Read", configuration: perOp) { benchmark in
        bookUnderTest.withBook { book in
            for _ in benchmark.scaledIterations {
                blackHole(book.bestBid)
                blackHole(book.bestAsk)
                blackHole(book.copyLevels(.bid, into: top10))
                blackHole(book.copyLevels(.ask, into: top10))
            }
        }
    } setup: {
        bookUnderTest.withBook { $0.applySnapshot(bids: book1000.bids, asks: book1000.asks) }
    }

    Benchmark("NaiveDictionaryBookBestAndTop10Read", configuration: naivePeerConfiguration) { _ in
        blackHole(dictionaryBook.best(.bid))
        blackHole(dictionaryBook.best(.ask))
        blackHole(dictionaryBook.top(.bid, 10))
        blackHole(dictionaryBook.top(.ask, 10))
    } setup: {
        dictionaryBook.replace(.bid, with: book1000.bids)
        dictionaryBook.replace(.ask, with: book1000.asks)
    }
}

/// Naive peers allocate by design (sorting on read, dictionary storage), so they measure
/// time only: scripts/check-mallocs.sh gates every benchmark that measures mallocs.
private var naivePeerConfiguration: Benchmark.Configuration {
    var configuration = hotPathConfiguration
    configuration.metrics = [.wallClock, .throughput]
    configuration.thresholds = nil
    return configuration
}

/// One activated book in its own table, kept alive for the benchmark run.
private final class BenchmarkBook {
    private let table: BookTable
    private let id = InstrumentId(0)

    init(levelsPerSide: Int) {
        do {
            table = try BookTable(capacity: 1, levelBudget: BookTable.levelBudget(books: 1, levelsPerSide: levelsPerSide))
            try table.activate(id, levelsPerSide: levelsPerSide)
        } catch {
            fatalError("book table for benchmarks: \(error)")
        }
    }

    func withBook<R>(_ body: (OrderBook) -> R) -> R { table.withBook(id, body) }
}

// MARK: inputs

private let bestBidTick: Int64 = 1_000_000
private let bestAskTick: Int64 = 1_000_001

/// `levels` consecutive ticks, best first.
private func bookSide(_ side: Side, levels: Int) -> [BookLevel] {
    (0..<Int64(levels)).map { depth in
        BookLevel(price: Price(mantissa: side == .bid ? bestBidTick - depth : bestAskTick + depth),
                  quantity: Quantity(mantissa: 100 + depth))
    }
}

private struct BookUpdate {
    var side: Side
    var price: Price
    var quantity: Quantity
}

/// Updates against a 1000-level book (depths 0..<1000 on each side), weighted to the top
/// like real depth streams: 60 % within 5 ticks of the inside, 25 % within 50, 15 % anywhere
/// in the 1000. An existing level is replaced (65 %) or deleted (35 %), an absent one inserted.
/// The sequence ends with the inserts and deletes that restore the starting book, so every
/// replay sees the same book: no delete ever misses and the book stays near 1000 levels.
private func topWeightedUpdates(count: Int) -> [BookUpdate] {
    var random = BenchmarkRandom(seed: 0x0B00C)
    let startingDepths = Set<Int64>(0..<1000)
    var present: [Side: Set<Int64>] = [.bid: startingDepths, .ask: startingDepths]
    var changed: [Side: Set<Int64>] = [.bid: [], .ask: []]
    var updates: [BookUpdate] = []

    func update(_ side: Side, depth: Int64, quantity: Int64) -> BookUpdate {
        BookUpdate(side: side, price: Price(mantissa: side == .bid ? bestBidTick - depth : bestAskTick + depth),
                   quantity: Quantity(mantissa: quantity))
    }

    // Leave room for one more op and the restoring ops it may need.
    while updates.count + changed[.bid]!.count + changed[.ask]!.count < count - 1 {
        let side: Side = random.next() & 1 == 0 ? .bid : .ask
        let roll = random.next() % 100
        let depth = Int64(random.next() % (roll < 60 ? 5 : roll < 85 ? 50 : 1000))
        let exists = present[side]!.contains(depth)
        if exists && random.next() % 100 < 65 {
            updates.append(update(side, depth: depth, quantity: Int64(1 + random.next() % 10_000)))
            continue
        }
        updates.append(update(side, depth: depth, quantity: exists ? 0 : Int64(1 + random.next() % 10_000)))
        if exists { present[side]!.remove(depth) } else { present[side]!.insert(depth) }
        if changed[side]!.remove(depth) == nil { changed[side]!.insert(depth) }
    }
    for side in Side.allCases {
        for depth in changed[side]!.sorted() {
            updates.append(update(side, depth: depth, quantity: startingDepths.contains(depth) ? 100 + depth : 0))
        }
    }
    while updates.count < count { updates.append(update(.bid, depth: 0, quantity: 100)) }
    return updates
}

/// SplitMix64: a deterministic op sequence, so runs and baselines compare like for like.
private struct BenchmarkRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: naive peers

/// The book most Swift code starts with: a dictionary per side, sorted when read.
private struct NaiveDictionaryBook {
    var bids: [Int64: Int64] = [:]
    var asks: [Int64: Int64] = [:]

    mutating func set(_ side: Side, price: Price, quantity: Quantity) {
        if side == .bid {
            bids[price.mantissa] = quantity.isZero ? nil : quantity.mantissa
        } else {
            asks[price.mantissa] = quantity.isZero ? nil : quantity.mantissa
        }
    }

    mutating func replace(_ side: Side, with levels: [BookLevel]) {
        var levelsByPrice = side == .bid ? bids : asks
        levelsByPrice.removeAll(keepingCapacity: true)
        for level in levels { levelsByPrice[level.price.mantissa] = level.quantity.mantissa }
        if side == .bid { bids = levelsByPrice } else { asks = levelsByPrice }
    }

    func best(_ side: Side) -> Int64? { side == .bid ? bids.keys.max() : asks.keys.min() }

    func top(_ side: Side, _ count: Int) -> ArraySlice<(key: Int64, value: Int64)> {
        side == .bid ? bids.sorted { $0.key > $1.key }.prefix(count) : asks.sorted { $0.key < $1.key }.prefix(count)
    }
}

/// The other obvious book: a sorted array per side, best first at index 0, binary search,
/// Array.insert/remove (every insert or delete near the top shifts the whole side).
private struct NaiveSortedArrayBook {
    var bids: [BookLevel] = []
    var asks: [BookLevel] = []

    mutating func set(_ side: Side, price: Price, quantity: Quantity) {
        if side == .bid { Self.set(&bids, price: price, quantity: quantity, isBetter: >) }
        else { Self.set(&asks, price: price, quantity: quantity, isBetter: <) }
    }

    private static func set(_ levels: inout [BookLevel], price: Price, quantity: Quantity, isBetter: (Price, Price) -> Bool) {
        var low = 0
        var high = levels.count
        while low < high {
            let mid = (low + high) / 2
            if isBetter(levels[mid].price, price) { low = mid + 1 } else { high = mid }
        }
        let exists = low < levels.count && levels[low].price == price
        switch (exists, quantity.isZero) {
        case (true, true): levels.remove(at: low)
        case (true, false): levels[low].quantity = quantity
        case (false, false): levels.insert(BookLevel(price: price, quantity: quantity), at: low)
        case (false, true): break
        }
    }

    mutating func replace(_ side: Side, with levels: [BookLevel]) {
        if side == .bid { bids = levels } else { asks = levels }
        bids.reserveCapacity(2 * BookTable.defaultLevelsPerSide)
        asks.reserveCapacity(2 * BookTable.defaultLevelsPerSide)
    }
}

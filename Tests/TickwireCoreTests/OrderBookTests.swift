@testable import TickwireCore
import Testing
import TickwireSystem

// MARK: helpers

/// Tests need no huge pages: plain pages keep the tables small and fast to map.
let plainPages = HotMemoryPolicy(attempts: [.normal])

/// Runs `body` on the one book of a fresh single-instrument table.
func withTestBook<R>(levelsPerSide: Int = 16, _ body: (OrderBook) throws -> R) throws -> R {
    let table = try BookTable(
        capacity: 1, levelBudget: BookTable.levelBudget(books: 1, levelsPerSide: levelsPerSide), policy: plainPages)
    try table.activate(InstrumentId(0), levelsPerSide: levelsPerSide)
    return try table.withBook(InstrumentId(0), body)
}

func level(_ price: Int64, _ quantity: Int64) -> BookLevel {
    BookLevel(price: Price(mantissa: price), quantity: Quantity(mantissa: quantity))
}

extension OrderBook {
    func set(_ side: Side, _ price: Int64, _ quantity: Int64) {
        set(side, price: Price(mantissa: price), quantity: Quantity(mantissa: quantity))
    }

    func delete(_ side: Side, _ price: Int64) { delete(side, price: Price(mantissa: price)) }

    /// The whole side, best first.
    func levels(_ side: Side) -> [BookLevel] {
        var levels: [BookLevel] = []
        forEachLevel(side) { levels.append($0) }
        return levels
    }
}

// MARK: operations

@Suite struct OrderBookTests {
    @Test func emptyBookHasNoBestLevelsAndIsNotCrossed() throws {
        try withTestBook { book in
            #expect(book.bestBid == nil)
            #expect(book.bestAsk == nil)
            #expect(book.levelCount(.bid) == 0 && book.levelCount(.ask) == 0)
            #expect(!book.isCrossed)
            #expect(book.levels(.bid).isEmpty && book.levels(.ask).isEmpty)
            #expect(book.droppedLevels == 0 && book.missingDeletes == 0 && book.updateId == 0)
        }
    }

    @Test func bestBidIsTheHighestPriceAndBestAskTheLowest() throws {
        try withTestBook { book in
            for (price, quantity) in [(100, 1), (102, 2), (101, 3)] as [(Int64, Int64)] {
                book.set(.bid, price, quantity)
                book.set(.ask, price + 10, quantity)
            }
            #expect(book.bestBid == level(102, 2))
            #expect(book.bestAsk == level(110, 1))
            #expect(book.best(.bid) == book.bestBid && book.best(.ask) == book.bestAsk)
            #expect(book.levelCount(.bid) == 3 && book.levelCount(.ask) == 3)
        }
    }

    @Test func levelsIterateBestFirstBidsDescendingAsksAscending() throws {
        try withTestBook { book in
            for price in [5, 1, 9, 3, 7] as [Int64] {
                book.set(.bid, price, price * 10)
                book.set(.ask, price + 100, price)
            }
            #expect(book.levels(.bid) == [level(9, 90), level(7, 70), level(5, 50), level(3, 30), level(1, 10)])
            #expect(book.levels(.ask) == [level(101, 1), level(103, 3), level(105, 5), level(107, 7), level(109, 9)])
        }
    }

    @Test func iterationStopsAtTheLimit() throws {
        try withTestBook { book in
            for price in 1...6 as ClosedRange<Int64> { book.set(.bid, price, 1) }
            var visited: [Int64] = []
            book.forEachLevel(.bid, limit: 2) { visited.append($0.price.mantissa) }
            #expect(visited == [6, 5])
            book.forEachLevel(.bid, limit: 0) { _ in Issue.record("limit 0 visits nothing") }
        }
    }

    @Test func copyLevelsWritesBestFirstAndReturnsHowManyFit() throws {
        try withTestBook { book in
            for price in 1...3 as ClosedRange<Int64> { book.set(.ask, price, price) }
            var buffer = [BookLevel](repeating: level(0, 0), count: 5)
            let all = buffer.withUnsafeMutableBufferPointer { book.copyLevels(.ask, into: $0) }
            #expect(all == 3 && Array(buffer.prefix(3)) == [level(1, 1), level(2, 2), level(3, 3)])
            let two = buffer.withUnsafeMutableBufferPointer { book.copyLevels(.ask, into: UnsafeMutableBufferPointer(rebasing: $0[0..<2])) }
            #expect(two == 2)
        }
    }

    @Test func settingAnExistingPriceReplacesItsQuantity() throws {
        try withTestBook { book in
            book.set(.bid, 100, 5)
            book.set(.bid, 100, 7)
            #expect(book.levels(.bid) == [level(100, 7)])
        }
    }

    @Test func zeroQuantityDeletesTheLevel() throws {
        try withTestBook { book in
            book.set(.ask, 100, 5)
            book.set(.ask, 101, 5)
            book.set(.ask, 100, 0)
            #expect(book.levels(.ask) == [level(101, 5)])
            #expect(book.missingDeletes == 0)
        }
    }

    @Test func deleteRemovesOnlyThatLevel() throws {
        try withTestBook { book in
            for price in 1...5 as ClosedRange<Int64> { book.set(.bid, price, price) }
            book.delete(.bid, 5)
            book.delete(.bid, 3)
            book.delete(.bid, 1)
            #expect(book.levels(.bid) == [level(4, 4), level(2, 2)])
        }
    }

    @Test func deletingAnAbsentLevelCountsAMissingDeleteAndChangesNothing() throws {
        try withTestBook { book in
            book.set(.bid, 100, 5)
            book.delete(.bid, 99)
            book.delete(.ask, 100)
            book.set(.bid, 98, 0)
            #expect(book.missingDeletes == 3)
            #expect(book.levels(.bid) == [level(100, 5)] && book.levels(.ask).isEmpty)
        }
    }

    @Test func clearEmptiesBothSidesAndKeepsCountersAndUpdateId() throws {
        try withTestBook { book in
            book.set(.bid, 100, 5)
            book.set(.ask, 101, 5)
            book.delete(.ask, 1)
            book.updateId = 42
            book.clear()
            #expect(book.levelCount(.bid) == 0 && book.levelCount(.ask) == 0)
            #expect(book.missingDeletes == 1 && book.updateId == 42)
        }
    }

    @Test func clearingOneSideLeavesTheOther() throws {
        try withTestBook { book in
            book.set(.bid, 100, 5)
            book.set(.ask, 101, 5)
            book.clear(.bid)
            #expect(book.levels(.bid).isEmpty && book.levels(.ask) == [level(101, 5)])
        }
    }

    @Test func bookIsCrossedWhenTheBestBidReachesTheBestAsk() throws {
        try withTestBook { book in
            book.set(.bid, 100, 1)
            #expect(!book.isCrossed)
            book.set(.ask, 101, 1)
            #expect(!book.isCrossed)
            book.set(.bid, 101, 1)
            #expect(book.isCrossed)
            book.set(.bid, 102, 1)
            #expect(book.isCrossed)
            #expect(book.levelCount(.bid) == 3)
            book.clear(.ask)
            #expect(!book.isCrossed)
        }
    }

    @Test func updateIdIsStoredPerBook() throws {
        let table = try BookTable(capacity: 2, levelBudget: BookTable.levelBudget(books: 2, levelsPerSide: 4), policy: plainPages)
        try table.activate(InstrumentId(0), levelsPerSide: 4)
        try table.activate(InstrumentId(1), levelsPerSide: 4)
        table.withBook(InstrumentId(0)) { $0.updateId = 7 }
        table.withBook(InstrumentId(1)) { $0.updateId = 9 }
        #expect(table.withBook(InstrumentId(0)) { $0.updateId } == 7)
        #expect(table.withBook(InstrumentId(1)) { $0.updateId } == 9)
    }

    // MARK: capacity

    @Test func fullBidSideDropsTheLowestBidForABetterOne() throws {
        try withTestBook(levelsPerSide: 3) { book in
            for price in [10, 20, 30] as [Int64] { book.set(.bid, price, 1) }
            book.set(.bid, 25, 2)
            #expect(book.levels(.bid) == [level(30, 1), level(25, 2), level(20, 1)])
            book.set(.bid, 40, 3)
            #expect(book.levels(.bid) == [level(40, 3), level(30, 1), level(25, 2)])
            #expect(book.droppedLevels == 2)
        }
    }

    @Test func fullAskSideDropsTheHighestAskForABetterOne() throws {
        try withTestBook(levelsPerSide: 3) { book in
            for price in [10, 20, 30] as [Int64] { book.set(.ask, price, 1) }
            book.set(.ask, 15, 2)
            #expect(book.levels(.ask) == [level(10, 1), level(15, 2), level(20, 1)])
            book.set(.ask, 5, 3)
            #expect(book.levels(.ask) == [level(5, 3), level(10, 1), level(15, 2)])
            #expect(book.droppedLevels == 2)
        }
    }

    @Test func fullSideDropsANewLevelDeeperThanAllExisting() throws {
        try withTestBook(levelsPerSide: 2) { book in
            book.set(.bid, 10, 1)
            book.set(.bid, 20, 1)
            book.set(.bid, 5, 9)
            book.set(.ask, 30, 1)
            book.set(.ask, 40, 1)
            book.set(.ask, 50, 9)
            #expect(book.levels(.bid) == [level(20, 1), level(10, 1)])
            #expect(book.levels(.ask) == [level(30, 1), level(40, 1)])
            #expect(book.droppedLevels == 2)
        }
    }

    @Test func replacingOrDeletingOnAFullSideDropsNothing() throws {
        try withTestBook(levelsPerSide: 2) { book in
            book.set(.bid, 10, 1)
            book.set(.bid, 20, 1)
            book.set(.bid, 10, 5)
            book.delete(.bid, 20)
            book.set(.bid, 15, 1)
            #expect(book.levels(.bid) == [level(15, 1), level(10, 5)])
            #expect(book.droppedLevels == 0)
        }
    }

    @Test func oneLevelSideKeepsOnlyTheBest() throws {
        try withTestBook(levelsPerSide: 1) { book in
            book.set(.ask, 10, 1)
            book.set(.ask, 11, 1)
            book.set(.ask, 9, 2)
            #expect(book.levels(.ask) == [level(9, 2)])
            #expect(book.droppedLevels == 2)
        }
    }

    // MARK: snapshots

    @Test func snapshotReplacesTheWholeSide() throws {
        try withTestBook { book in
            book.set(.bid, 1, 1)
            book.set(.ask, 50, 1)
            book.applySnapshot(bids: [level(12, 1), level(11, 2), level(10, 3)], asks: [level(13, 4), level(14, 5)])
            #expect(book.levels(.bid) == [level(12, 1), level(11, 2), level(10, 3)])
            #expect(book.levels(.ask) == [level(13, 4), level(14, 5)])
            book.applySnapshot(.ask, [BookLevel]())
            #expect(book.levels(.ask).isEmpty && book.levelCount(.bid) == 3)
        }
    }

    @Test func snapshotSkipsZeroQuantities() throws {
        try withTestBook { book in
            book.applySnapshot(.bid, [level(12, 1), level(11, 0), level(10, 3)])
            #expect(book.levels(.bid) == [level(12, 1), level(10, 3)])
            #expect(book.missingDeletes == 0 && book.droppedLevels == 0)
        }
    }

    @Test func snapshotLargerThanCapacityKeepsTheBestLevelsAndCountsTheRest() throws {
        try withTestBook(levelsPerSide: 3) { book in
            let bids = (1...5 as ClosedRange<Int64>).reversed().map { level($0, $0) }
            let asks = (1...5 as ClosedRange<Int64>).map { level(100 + $0, $0) }
            bids.withUnsafeBufferPointer { book.applySnapshot(.bid, $0) }
            book.applySnapshot(.ask, asks)
            #expect(book.levels(.bid) == [level(5, 5), level(4, 4), level(3, 3)])
            #expect(book.levels(.ask) == [level(101, 1), level(102, 2), level(103, 3)])
            #expect(book.droppedLevels == 4)
        }
    }

    @Test func outOfOrderSnapshotGivesTheSameBookAsABestFirstOne() throws {
        try withTestBook(levelsPerSide: 3) { book in
            book.applySnapshot(.bid, [level(2, 2), level(5, 5), level(1, 1), level(4, 4), level(3, 3)])
            book.applySnapshot(.ask, [level(105, 5), level(101, 1), level(104, 4), level(102, 2)])
            #expect(book.levels(.bid) == [level(5, 5), level(4, 4), level(3, 3)])
            #expect(book.levels(.ask) == [level(101, 1), level(102, 2), level(104, 4)])
            #expect(book.droppedLevels == 3)
        }
    }

    @Test func snapshotListingAPriceTwiceKeepsTheLaterQuantity() throws {
        try withTestBook { book in
            book.applySnapshot(.bid, [level(12, 1), level(12, 7), level(11, 2)])
            book.applySnapshot(.ask, [level(13, 1), level(14, 2), level(13, 7)])
            #expect(book.levels(.bid) == [level(12, 7), level(11, 2)])
            #expect(book.levels(.ask) == [level(13, 7), level(14, 2)])
        }
    }

    // MARK: storage

    @Test func levelIsSixteenBytesAndSideAllocationsStartOnCacheLines() throws {
        #expect(MemoryLayout<BookLevel>.size == 16 && MemoryLayout<BookLevel>.stride == 16)
        let table = try BookTable(capacity: 3, levelBudget: BookTable.levelBudget(books: 3, levelsPerSide: 5), policy: plainPages)
        for index in 0..<3 { try table.activate(InstrumentId(UInt16(index)), levelsPerSide: 5) }
        for index in 0..<3 {
            table.withBook(InstrumentId(UInt16(index))) { book in
                #expect(Int(bitPattern: book.header) % 64 == 0)
                for side in Side.allCases {
                    let slot = book.side(side)
                    #expect(Int(bitPattern: slot.header.pointee.levels - Int(slot.windowStart.pointee)) % 64 == 0)
                }
            }
        }
    }
}

// MARK: table

@Suite struct BookTableTests {
    @Test func booksOfDifferentInstrumentsAreIndependent() throws {
        let table = try BookTable(capacity: 4, levelBudget: BookTable.levelBudget(books: 2, levelsPerSide: 8), policy: plainPages)
        try table.activate(InstrumentId(1), levelsPerSide: 8)
        try table.activate(InstrumentId(3), levelsPerSide: 8)
        table.withBook(InstrumentId(1)) { $0.set(.bid, 100, 1) }
        table.withBook(InstrumentId(3)) { $0.set(.bid, 200, 2) }
        #expect(table.withBook(InstrumentId(1)) { $0.levels(.bid) } == [level(100, 1)])
        #expect(table.withBook(InstrumentId(3)) { $0.levels(.bid) } == [level(200, 2)])
    }

    @Test func activationTakesTheExactBudgetAndThenThrows() throws {
        let table = try BookTable(capacity: 4, levelBudget: BookTable.levelBudget(books: 2, levelsPerSide: 5), policy: plainPages)
        try table.activate(InstrumentId(0), levelsPerSide: 5)
        try table.activate(InstrumentId(1), levelsPerSide: 5)
        #expect(table.levelsLeft == 0)
        #expect(throws: BookTableError.levelBudgetExhausted(InstrumentId(2), needed: 32, left: 0)) {
            try table.activate(InstrumentId(2), levelsPerSide: 5)
        }
        #expect(!table.isActive(InstrumentId(2)))
    }

    @Test func activatingTwiceOrBeyondCapacityThrows() throws {
        let table = try BookTable(capacity: 2, levelBudget: BookTable.levelBudget(books: 2, levelsPerSide: 4), policy: plainPages)
        try table.activate(InstrumentId(0), levelsPerSide: 4)
        #expect(table.isActive(InstrumentId(0)))
        #expect(throws: BookTableError.alreadyActive(InstrumentId(0))) { try table.activate(InstrumentId(0), levelsPerSide: 4) }
        #expect(throws: BookTableError.idOutOfRange(InstrumentId(2), capacity: 2)) { try table.activate(InstrumentId(2), levelsPerSide: 4) }
        #expect(!table.isActive(InstrumentId(2)))
    }

    @Test func inactiveBookStaysEmptyAndCountsEveryInsertAsDropped() throws {
        let table = try BookTable(capacity: 2, levelBudget: 0, policy: plainPages)
        table.withBook(InstrumentId(1)) { book in
            book.set(.bid, 100, 1)
            book.applySnapshot(.ask, [level(101, 1), level(102, 1)])
            book.delete(.ask, 101)
            #expect(book.levelCount(.bid) == 0 && book.levelCount(.ask) == 0 && book.levelsPerSide == 0)
            #expect(book.droppedLevels == 3 && book.missingDeletes == 1)
        }
    }

    @Test func prefetchLeavesEveryKindOfBookUnchanged() throws {
        let table = try BookTable(capacity: 3, levelBudget: BookTable.levelBudget(books: 2, levelsPerSide: 4), policy: plainPages)
        try table.activate(InstrumentId(0), levelsPerSide: 4)
        try table.activate(InstrumentId(1), levelsPerSide: 4)
        table.withBook(InstrumentId(1)) { book in
            for price in 1...4 as ClosedRange<Int64> { book.set(.bid, price, 1); book.set(.ask, price + 10, 1) }
        }
        for index in 0..<3 { table.prefetch(InstrumentId(UInt16(index))) }
        #expect(table.withBook(InstrumentId(0)) { $0.levelCount(.bid) } == 0)
        #expect(table.withBook(InstrumentId(1)) { $0.levels(.bid).count + $0.levels(.ask).count } == 8)
    }
}

// MARK: properties

/// The obvious book: a dictionary per side, sorted when read, with the same overflow rule.
struct ReferenceBook {
    struct SideLevels {
        let side: Side
        let capacity: Int
        var quantities: [Int64: Int64] = [:]

        func isBetter(_ price: Int64, than other: Int64) -> Bool { side == .bid ? price > other : price < other }

        var bestFirst: [BookLevel] {
            quantities.sorted { isBetter($0.key, than: $1.key) }.map { level($0.key, $0.value) }
        }

        /// Returns true when a level was dropped.
        mutating func set(_ price: Int64, _ quantity: Int64) -> Bool {
            if quantities[price] != nil || quantities.count < capacity {
                quantities[price] = quantity
                return false
            }
            let deepest = quantities.keys.min { isBetter($1, than: $0) }
            if let deepest, isBetter(price, than: deepest) {
                quantities[deepest] = nil
                quantities[price] = quantity
            }
            return true
        }
    }

    var bids: SideLevels
    var asks: SideLevels
    var droppedLevels: UInt64 = 0
    var missingDeletes: UInt64 = 0

    init(capacity: Int) {
        bids = SideLevels(side: .bid, capacity: capacity)
        asks = SideLevels(side: .ask, capacity: capacity)
    }

    subscript(side: Side) -> SideLevels {
        get { side == .bid ? bids : asks }
        set { if side == .bid { bids = newValue } else { asks = newValue } }
    }

    mutating func set(_ side: Side, _ price: Int64, _ quantity: Int64) {
        if quantity == 0 { return delete(side, price) }
        if self[side].set(price, quantity) { droppedLevels += 1 }
    }

    mutating func delete(_ side: Side, _ price: Int64) {
        if self[side].quantities.removeValue(forKey: price) == nil { missingDeletes += 1 }
    }

    /// Unique prices: keep the best `capacity` nonzero levels, count the rest.
    mutating func applySnapshot(_ side: Side, _ levels: [BookLevel]) {
        var all = self[side]
        all.quantities = Dictionary(uniqueKeysWithValues: levels.filter { !$0.quantity.isZero }.map { ($0.price.mantissa, $0.quantity.mantissa) })
        let kept = all.bestFirst.prefix(all.capacity)
        droppedLevels += UInt64(all.quantities.count - kept.count)
        all.quantities = Dictionary(uniqueKeysWithValues: kept.map { ($0.price.mantissa, $0.quantity.mantissa) })
        self[side] = all
    }
}

@Suite struct OrderBookPropertyTests {
    /// Random operations weighted to the top of the book, capacities small enough to
    /// overflow constantly and large enough to exercise the binary search.
    @Test(arguments: [1, 3, 8, 64, 1000], PropertySeeds.list(6))
    func randomOperationsMatchTheReferenceBook(levelsPerSide: Int, seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var reference = ReferenceBook(capacity: levelsPerSide)
        var mid: Int64 = 1_000_000
        let checkEvery = levelsPerSide >= 1000 ? 25 : 1
        let table = try BookTable(
            capacity: 1, levelBudget: BookTable.levelBudget(books: 1, levelsPerSide: levelsPerSide), policy: plainPages)
        try table.activate(InstrumentId(0), levelsPerSide: levelsPerSide)

        /// Distance from mid: mostly within a few ticks, sometimes deep, rarely through mid (crossing).
        func price(_ side: Side) -> Int64 {
            let distance: Int64 = switch Int.random(in: 0..<100, using: &random) {
            case 0..<65: .random(in: 1...6, using: &random)
            case 65..<88: .random(in: 1...64, using: &random)
            case 88..<97: .random(in: 1...1500, using: &random)
            default: .random(in: -3...0, using: &random)
            }
            return side == .bid ? mid - distance : mid + distance
        }

        func snapshotLevels(_ side: Side) -> [BookLevel] {
            let size = Int.random(in: 0...(2 * levelsPerSide + 2), using: &random)
            var prices = Set<Int64>()
            while prices.count < size { prices.insert(price(side) - (side == .bid ? 1 : -1) * .random(in: 0...3000, using: &random)) }
            var levels = prices.map { level($0, random.chance(0.05) ? 0 : .random(in: 1...1000, using: &random)) }
            levels.sort { side == .bid ? $0.price > $1.price : $0.price < $1.price }
            if random.chance(0.3) { levels.shuffle(using: &random) }
            return levels
        }

        try table.withBook(InstrumentId(0)) { book in
            for step in 0..<3000 {
                let side: Side = random.chance(0.5) ? .bid : .ask
                switch Int.random(in: 0..<1000, using: &random) {
                case 0..<800:
                    let (p, q) = (price(side), random.chance(0.1) ? 0 : Int64.random(in: 1...1000, using: &random))
                    book.set(side, p, q)
                    reference.set(side, p, q)
                case 800..<985:
                    let p = price(side)
                    book.delete(side, p)
                    reference.delete(side, p)
                case 985..<995:
                    let levels = snapshotLevels(side)
                    book.applySnapshot(side, levels)
                    reference.applySnapshot(side, levels)
                case 995..<998:
                    book.clear(side)
                    reference[side].quantities = [:]
                default:
                    book.clear()
                    reference.bids.quantities = [:]
                    reference.asks.quantities = [:]
                }
                if random.chance(0.05) { mid += .random(in: -3...3, using: &random) }
                table.prefetch(InstrumentId(0))

                let context: Comment = "seed \(seed), levelsPerSide \(levelsPerSide), step \(step)"
                try #require(book.droppedLevels == reference.droppedLevels, context)
                try #require(book.missingDeletes == reference.missingDeletes, context)
                for side in Side.allCases {
                    try #require(book.levelCount(side) == reference[side].quantities.count, context)
                }
                guard step % checkEvery == 0 || step == 2999 else { continue }
                let expectedBids = reference.bids.bestFirst
                let expectedAsks = reference.asks.bestFirst
                try #require(book.levels(.bid) == expectedBids, context)
                try #require(book.levels(.ask) == expectedAsks, context)
                try #require(book.bestBid == expectedBids.first && book.bestAsk == expectedAsks.first, context)
                let crossed = expectedBids.first.flatMap { bid in expectedAsks.first.map { bid.price >= $0.price } } ?? false
                try #require(book.isCrossed == crossed, context)
                let topN = Int.random(in: 0...12, using: &random)
                var top = [BookLevel](repeating: level(0, 0), count: topN)
                let written = top.withUnsafeMutableBufferPointer { book.copyLevels(side, into: $0) }
                try #require(Array(top.prefix(written)) == Array(reference[side].bestFirst.prefix(topN)), context)
            }
        }
    }

    /// Runs of inserts and deletes all at the deep end, then all at the top, push the level
    /// window against each end of its allocation again and again (it must recentre, and a
    /// full side must drop through it); the book matches the reference and never writes
    /// outside its own allocation (the neighbouring books stay as they were).
    @Test(arguments: [1, 5, 40, 333], PropertySeeds.list(3))
    func levelWindowMovesAndRecentresWithoutLosingOrOverrunning(levelsPerSide: Int, seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var reference = ReferenceBook(capacity: levelsPerSide)
        let table = try BookTable(
            capacity: 3, levelBudget: BookTable.levelBudget(books: 3, levelsPerSide: levelsPerSide), policy: plainPages)
        for index in 0..<3 { try table.activate(InstrumentId(UInt16(index)), levelsPerSide: levelsPerSide) }
        let neighbours = [InstrumentId(0), InstrumentId(2)]
        for id in neighbours {
            table.withBook(id) { book in
                for price in 1...Int64(levelsPerSide) { book.set(.bid, price, price); book.set(.ask, 10_000 + price, price) }
            }
        }
        let neighbourLevels = neighbours.map { id in table.withBook(id) { [$0.levels(.bid), $0.levels(.ask)] } }
        var deep: Int64 = 500_000, top: Int64 = 500_001
        try table.withBook(InstrumentId(1)) { book in
            for run in 0..<60 {
                let atDeepEnd = run % 2 == 0
                for _ in 0..<Int.random(in: 1...(2 * levelsPerSide + 20), using: &random) {
                    let side: Side = .bid
                    if random.chance(0.6) {
                        // A new level beyond the current end: the deep end's or the top's.
                        let price: Int64
                        if atDeepEnd { deep -= 1; price = deep } else { top += 1; price = top }
                        book.set(side, price, 7)
                        reference.set(side, price, 7)
                    } else {
                        // The deepest or best level goes.
                        let levels = reference.bids.bestFirst
                        guard let gone = atDeepEnd ? levels.last : levels.first else { continue }
                        book.delete(side, gone.price.mantissa)
                        reference.delete(side, gone.price.mantissa)
                    }
                }
                let context: Comment = "seed \(seed), levelsPerSide \(levelsPerSide), run \(run)"
                try #require(book.levels(.bid) == reference.bids.bestFirst, context)
                try #require(book.droppedLevels == reference.droppedLevels, context)
            }
        }
        #expect(neighbours.map { id in table.withBook(id) { [$0.levels(.bid), $0.levels(.ask)] } } == neighbourLevels)
    }
}

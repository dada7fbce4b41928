import Testing
import TickwireCore
import TickwireSimulator
import TickwireTransport
import TickwireVenues

/// Loopback tests share two vCPUs with busy-polling clients: one at a time.
@Suite(.serialized) struct SimulatorFeedTests {
    /// Steps until every symbol's book is valid (Binance: the first depth event starts the
    /// REST sync), at most `limit` steps.
    func syncAll(_ feed: any FeedDriver, limit: Int = 20) throws {
        var steps = 0
        while feed.symbols.contains(where: { feed.state($0) != .valid }) && steps < limit {
            try feed.step(1)
            steps += 1
        }
    }

    @Test(arguments: SimulatedVenue.allCases)
    func generatedBookThroughTheAdapterEqualsTheTruthAfterEveryMessage(venue: SimulatedVenue) throws {
        let feed = try venue.feed()
        try feed.connect()
        try syncAll(feed)
        for symbol in feed.symbols {
            #expect(feed.state(symbol) == .valid, "\(venue) \(symbol) did not sync")
        }
        var compared = 0
        for _ in 0..<250 {
            try feed.step(1)
            for symbol in feed.symbols {
                #expect(feed.state(symbol) == .valid, "\(venue) \(symbol) turned invalid")
                if !feed.matchesTruth(symbol, depth: venue.comparedDepth) {
                    let mine = feed.book(symbol), truth = feed.truth(symbol, depth: venue.comparedDepth)
                    Issue.record("\(venue) \(symbol): book \(mine.bids.prefix(3))/\(mine.asks.prefix(3)) (\(mine.bids.count)/\(mine.asks.count)) ≠ truth \(truth.bids.prefix(3))/\(truth.asks.prefix(3)) (\(truth.bids.count)/\(truth.asks.count))")
                    return
                }
                compared += 1
            }
        }
        #expect(compared == 500)
        #expect(feed.parseErrors == 0)
        #expect(feed.disconnects == 0)
    }

    @Test func wssAndHttpsWithTheGeneratedCAKeepBinanceSpotEqualToTheTruth() throws {
        let feed = try SimulatedVenue.binanceSpot.feed(symbols: ["ETHUSDT"], tls: true)
        try feed.connect()
        try syncAll(feed)
        for _ in 0..<100 { try feed.step(1) }
        #expect(feed.matchesTruth("ETHUSDT", depth: .max))
        #expect(feed.parseErrors == 0)
    }

    // MARK: faults

    enum Expectation { case invalidOnTheAffectedFrame, staysValid }

    /// Runs `steps` events with `faults` on one symbol and checks the documented outcome at the
    /// fault, then that the book comes back valid and equal to the truth after the resync.
    func runFault(_ venue: SimulatedVenue, _ faults: FaultConfiguration, _ expectation: Expectation,
                  steps: Int = 120, disconnect: Bool = false) throws {
        let symbol = venue.symbols[0]
        let feed = try venue.feed(symbols: [symbol], seed: 11, faults: faults)
        try feed.connect()
        try syncAll(feed)
        #expect(feed.state(symbol) == .valid)
        // Between a lost (dropped or held-back) message and the next one the feeder cannot know:
        // those points (all frames before the first affected one received) are allowed to differ.
        var wrongWhileValid: [(client: Int, frames: Int)] = []
        for _ in 0..<steps {
            try feed.step(1)
            if feed.state(symbol) == .valid && !feed.matchesTruth(symbol, depth: venue.comparedDepth) {
                wrongWhileValid.append((feed.clientId, feed.framesReceived))
            }
        }
        try syncAll(feed)
        let records = feed.faultRecords()
        let unexplained = wrongWhileValid.filter { point in
            !records.contains { ($0.kind == .drop || $0.kind == .reorder) && $0.client == point.client && $0.firstAffectedFrame - 1 == point.frames }
        }
        let fault = try #require(records.first, "no fault was applied")
        let history = feed.history[0].filter { $0.client == fault.client }
        switch expectation {
        case .invalidOnTheAffectedFrame:
            if disconnect {
                // The connection ends after frame F-1: valid through it, invalid at the drop.
                let lastFrame = try #require(history.last)
                #expect(lastFrame.frame == fault.firstAffectedFrame - 1, "\(history.suffix(3)) \(fault)")
                #expect(lastFrame.state == .invalid)
                #expect(history.dropLast().last?.state == .valid, "\(history.suffix(3))")
                #expect(feed.disconnects >= 1)
            } else {
                let before = history.last { $0.frame == fault.firstAffectedFrame - 1 }
                let at = history.first { $0.frame == fault.firstAffectedFrame }
                #expect(before?.state == .valid, "valid before the first bad message: \(fault) \(history.suffix(8))")
                #expect(at?.state == .invalid, "invalid on the first bad message: \(fault) \(history.suffix(8))")
            }
        case .staysValid:
            #expect(history.allSatisfy { $0.state == .valid } || history.firstIndex { $0.state == .valid }.map { first in
                history[first...].allSatisfy { $0.state == .valid }
            } == true, "\(fault)")
        }
        #expect(unexplained.isEmpty, "a valid book differed from the truth at \(unexplained)")
        #expect(feed.state(symbol) == .valid, "\(venue) resynced after \(fault)")
        #expect(feed.matchesTruth(symbol, depth: venue.comparedDepth), "\(venue) equal to the truth after the resync")
    }

    static func faults(_ configure: (inout FaultConfiguration) -> Void) -> FaultConfiguration {
        var faults = FaultConfiguration()
        faults.logToStandardError = false
        configure(&faults)
        return faults
    }

    @Test(arguments: SimulatedVenue.allCases)
    func aDroppedBookMessageInvalidatesOnTheNextOneAndTheResyncRestoresTheTruth(venue: SimulatedVenue) throws {
        try runFault(venue, Self.faults { $0.drop = .nth(40) }, .invalidOnTheAffectedFrame)
    }

    /// Binance spot applies an event unless `u` < the book's id: a duplicate has `u` == the id
    /// and `U` <= id + 1, so it is re-applied, harmlessly (absolute quantities). Kraken has no
    /// sequence and the duplicate leaves the book and its checksum unchanged. Everyone else
    /// sees a sequence break: USD-M `pu`, Bybit `u`, OKX `prevSeqId`, Coinbase `sequence_num`.
    @Test(arguments: SimulatedVenue.allCases)
    func aDuplicateIsHarmlessOnBinanceSpotAndKrakenAndAGapEverywhereElse(venue: SimulatedVenue) throws {
        let harmless = venue == .binanceSpot || venue == .kraken
        try runFault(venue, Self.faults { $0.duplicate = .nth(40) }, harmless ? .staysValid : .invalidOnTheAffectedFrame)
    }

    @Test(arguments: SimulatedVenue.allCases)
    func aReorderedMessageInvalidatesWhenTheLaterOneArrivesFirst(venue: SimulatedVenue) throws {
        try runFault(venue, Self.faults { $0.reorder = .nth(40) }, .invalidOnTheAffectedFrame)
    }

    @Test(arguments: SimulatedVenue.allCases)
    func aCorruptJSONFrameInvalidatesItsSymbolAtOnce(venue: SimulatedVenue) throws {
        try runFault(venue, Self.faults { $0.corrupt = .nth(40) }, .invalidOnTheAffectedFrame)
    }

    @Test(arguments: [SimulatedVenue.binanceSpot, .okx, .kraken])
    func aProtocolInvalidFrameEndsTheConnectionAndTheReconnectResyncs(venue: SimulatedVenue) throws {
        try runFault(venue, Self.faults { $0.corrupt = .nth(40); $0.corruptKind = .frame }, .invalidOnTheAffectedFrame, disconnect: true)
    }

    @Test(arguments: SimulatedVenue.allCases)
    func aDroppedConnectionInvalidatesAndTheReconnectResyncs(venue: SimulatedVenue) throws {
        try runFault(venue, Self.faults { $0.disconnectEvery = 40 }, .invalidOnTheAffectedFrame, steps: 100, disconnect: true)
    }

    @Test func aStallKeepsTheBookValidAndEqual() throws {
        let faults = Self.faults { $0.stall = .nth(10); $0.stallMilliseconds = 200 }
        let feed = try SimulatedVenue.kraken.feed(symbols: ["BTC/USD"], faults: faults)
        try feed.connect()
        for _ in 0..<5 { try feed.step(1) }
        let clock = ContinuousClock()
        let elapsed = try clock.measure { for _ in 0..<30 { try feed.step(1) } }
        #expect(elapsed >= .milliseconds(200))
        #expect(feed.faultRecords().map(\.kind) == [.stall])
        #expect(feed.history[0].allSatisfy { $0.state == .valid || $0.frame <= 3 })
        #expect(feed.matchesTruth("BTC/USD", depth: 10))
    }
}

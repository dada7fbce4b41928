import Testing
import TickwireCore
@testable import TickwireVenues

/// What an adapter told its sink, in order.
enum SinkEvent: Equatable, CustomStringConvertible {
    case begins(UInt16)
    case delta(Side, Int64, Int64, u: UInt64, last: Bool)
    case complete(UInt16, u: UInt64)
    case trade(Trade)
    case quote(BestBidOffer)
    case invalid(UInt16, BookStatus.Reason)

    var description: String {
        switch self {
        case .begins(let id): "begins(\(id))"
        case .delta(let side, let price, let quantity, let u, let last): "delta(\(side) \(price) \(quantity) u=\(u)\(last ? " last" : ""))"
        case .complete(let id, let u): "complete(\(id), u=\(u))"
        case .trade(let trade): "trade(\(trade))"
        case .quote(let quote): "quote(\(quote))"
        case .invalid(let id, let reason): "invalid(\(id), \(reason))"
        }
    }
}

struct RecordingSink: VenueEventSink {
    var events: [SinkEvent] = []

    mutating func snapshotBegins(_ instrument: InstrumentId, receiveTime: UInt64) { events.append(.begins(instrument.rawValue)) }
    mutating func bookDelta(_ delta: BookDelta) {
        events.append(.delta(delta.side, delta.price.mantissa, delta.quantity.mantissa, u: delta.venueUpdateId, last: delta.isLastInUpdate))
    }
    mutating func updateComplete(_ instrument: InstrumentId, venueUpdateId: UInt64, checksum: VenueChecksum, eventTime: UInt64, receiveTime: UInt64) {
        events.append(.complete(instrument.rawValue, u: venueUpdateId))
    }
    mutating func trade(_ trade: Trade) { events.append(.trade(trade)) }
    mutating func bestBidOffer(_ quote: BestBidOffer) { events.append(.quote(quote)) }
    mutating func bookInvalid(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        events.append(.invalid(instrument.rawValue, reason))
    }
}

/// Calls `body` with a `ByteView` of `text`'s bytes, carrying a typed error out.
func withFrame<T>(_ text: String, _ body: (ByteView) throws(VenueError) -> T) throws(VenueError) -> T {
    let bytes = Array(text.utf8)
    let result = bytes.withUnsafeBufferPointer { buffer -> Result<T, VenueError> in
        let view = ByteView(start: buffer.baseAddress!, count: buffer.count)
        return Result { () throws(VenueError) in try body(view) }
    }
    return try result.get()
}

/// An adapter over ETHUSDT (#0) and BTCUSDT (#1), prices at scale 2 and quantities at scale 3,
/// recording what it emits and requests.
struct BinanceHarness<Rules: BinanceBookRules> {
    var adapter: BinanceAdapter<Rules>
    var sink = RecordingSink()
    var requests: [VenueRequest] = []

    static var eth: InstrumentId { InstrumentId(0) }
    static var btc: InstrumentId { InstrumentId(1) }

    init(bufferBytes: Int = 1 << 16, subscribeInURL: Bool = false, configure: (inout BinanceConfiguration) -> Void = { _ in }) {
        let symbols = ["ETHUSDT", "BTCUSDT"].enumerated().map { index, name in
            VenueSymbol(name: name, instrument: InstrumentId(UInt16(index)), priceScale: Scale(2), quantityScale: Scale(3))
        }
        let spot = Rules.venue == .binanceSpot
        var configuration = BinanceConfiguration(
            wsURL: spot ? "wss://stream.binance.com:9443" : "wss://fstream.binance.com",
            restURL: spot ? "https://api.binance.com" : "https://fapi.binance.com",
            symbols: symbols, depthStream: spot ? "depth@100ms" : "depth@0ms",
            subscribeInURL: subscribeInURL, bufferBytesPerSymbol: bufferBytes)
        configure(&configuration)
        adapter = BinanceAdapter(configuration: configuration)
    }

    mutating func send(_ text: String, at time: UInt64 = 0) throws(VenueError) {
        try withFrame(text) { (view) throws(VenueError) in
            try adapter.handle(message: view, receiveTime: time, sink: &sink, requests: &requests)
        }
    }

    mutating func snapshot(_ instrument: InstrumentId, _ text: String, at time: UInt64 = 0) throws(VenueError) {
        try withFrame(text) { (view) throws(VenueError) in
            try adapter.handleSnapshot(instrument, body: view, receiveTime: time, sink: &sink, requests: &requests)
        }
    }

    /// The events since the last call.
    mutating func events() -> [SinkEvent] {
        defer { sink.events.removeAll() }
        return sink.events
    }

    /// The requests since the last call.
    mutating func takeRequests() -> [VenueRequest] {
        defer { requests.removeAll() }
        return requests
    }

    func counters(_ instrument: InstrumentId = eth) -> BinanceSymbolCounters { adapter.binanceCounters(instrument) }

    /// Brings `instrument` in sync: one buffered event [U;u] and a snapshot at `lastUpdateId` that it straddles.
    mutating func sync(_ instrument: InstrumentId = eth, symbol: String = "ETHUSDT", first: UInt64, last: UInt64, lastUpdateId: UInt64) throws {
        try send(depthFrame(symbol, first, last, previous: first - 1, bids: [("100.00", "1.000")], asks: [("101.00", "1.000")]))
        try snapshot(instrument, snapshotBody(lastUpdateId, bids: [("99.00", "2.000")], asks: [("102.00", "2.000")]))
        #expect(adapter.phase(of: instrument) == .synced)
        _ = events()
        _ = takeRequests()
    }

    /// An ETHUSDT depth frame.
    func depthFrame(
        _ first: UInt64, _ last: UInt64, previous: UInt64 = 0,
        bids: [(String, String)] = [], asks: [(String, String)] = [], combined: Bool = true
    ) -> String {
        depthFrame("ETHUSDT", first, last, previous: previous, bids: bids, asks: asks, combined: combined)
    }

    /// A depth frame in this venue's shape (USD-M carries `pu`, spot does not).
    func depthFrame(
        _ symbol: String, _ first: UInt64, _ last: UInt64, previous: UInt64 = 0,
        bids: [(String, String)] = [], asks: [(String, String)] = [], combined: Bool = true
    ) -> String {
        let spot = Rules.venue == .binanceSpot
        let levels = { (levels: [(String, String)]) in levels.map { #"["\#($0.0)","\#($0.1)"]"# }.joined(separator: ",") }
        let data = spot
            ? #"{"e":"depthUpdate","E":1723161255308,"s":"\#(symbol)","U":\#(first),"u":\#(last),"b":[\#(levels(bids))],"a":[\#(levels(asks))]}"#
            : #"{"e":"depthUpdate","E":1723161256303,"T":1723161256302,"s":"\#(symbol)","U":\#(first),"u":\#(last),"pu":\#(previous),"b":[\#(levels(bids))],"a":[\#(levels(asks))]}"#
        let stream = "\(symbol.lowercased())@\(spot ? "depth@100ms" : "depth@0ms")"
        return combined ? #"{"stream":"\#(stream)","data":\#(data)}"# : data
    }

    func snapshotBody(_ lastUpdateId: UInt64, bids: [(String, String)], asks: [(String, String)]) -> String {
        let levels = { (levels: [(String, String)]) in levels.map { #"["\#($0.0)","\#($0.1)"]"# }.joined(separator: ",") }
        return Rules.venue == .binanceSpot
            ? #"{"lastUpdateId":\#(lastUpdateId),"bids":[\#(levels(bids))],"asks":[\#(levels(asks))]}"#
            : #"{"lastUpdateId":\#(lastUpdateId),"E":1723161256567,"T":1723161256561,"bids":[\#(levels(bids))],"asks":[\#(levels(asks))]}"#
    }
}

typealias SpotHarness = BinanceHarness<BinanceSpotRules>
typealias USDMHarness = BinanceHarness<BinanceUSDMRules>

/// Whether `requests` asks for exactly one snapshot of `instrument`.
func isOneSnapshotRequest(_ requests: [VenueRequest], _ instrument: InstrumentId) -> Bool {
    guard requests.count == 1, case .fetchSnapshot(let id, _) = requests[0] else { return false }
    return id == instrument
}

/// A book-changing message's events for one instrument: its deltas then one completion.
func completes(_ events: [SinkEvent]) -> [UInt64] {
    events.compactMap { if case .complete(_, let u) = $0 { u } else { nil } }
}

@Suite struct BinanceScannerFastPathTests {
    /// The fused decimal gives exactly what the general scanner gives, value or error.
    @Test(arguments: [
        (#""2683.80000000""#, 2), (#""0.00420000""#, 4), (#""1""#, 3), (#""1.5""#, 3), (#""007.10""#, 2),
        (#""1.234""#, 2), (#""-1.5""#, 1), (#""1e2""#, 0), ("12.5", 1), (#""99999999999999999999""#, 0),
        (#""9223372036854775807""#, 0), (#""9223372036854775808""#, 0), (#""1.""#, 2), (#""""#, 2), (#"".5""#, 2),
        (#""1.5"#, 2), (#""922337203685477580.7""#, 2),
    ])
    func fusedDecimalAgreesWithTheGeneralParser(text: String, scale: Int) {
        let frame = "[\(text)]"
        let fast = Result { () throws(JSONError) in try scan(frame) { (s) throws(JSONError) in
            try s.beginArray(); _ = try s.nextElement(); return try s.binanceDecimal(scale: Scale(UInt8(scale))) } }
        let general = Result { () throws(JSONError) in try scan(frame) { (s) throws(JSONError) in
            try s.beginArray(); _ = try s.nextElement(); return try s.decimal(scale: Scale(UInt8(scale))) } }
        #expect(fast == general, "\(text) at scale \(scale)")
    }

    @Test(arguments: ["123", "0", "18446744073709551615", "18446744073709551616", "\"42\"", "12a", "-1", "1234567890123456789",
                      "1723161256303", "12345678", "00000000000000000001", "99999999999999999999", "1234567890123456.5", "17231612563e3"])
    func fusedIntegerAgreesWithTheGeneralParser(text: String) {
        let frame = "[\(text)]"
        let fast = Result { () throws(JSONError) in try scan(frame) { (s) throws(JSONError) in
            try s.beginArray(); _ = try s.nextElement(); return try s.binanceUInt64() } }
        let general = Result { () throws(JSONError) in try scan(frame) { (s) throws(JSONError) in
            try s.beginArray(); _ = try s.nextElement(); return try s.uint64() } }
        #expect(fast == general, "\(text)")
    }

    /// The one-walk level reader gives what the general reader gives, levels or error.
    @Test(arguments: [
        #"[["2683.80000000","3.02920000"],["2679.00","28.2153"]]"#, #"[]"#, #"[ ]"#, #"[["1","0"]]"#,
        #"[ ["1.5", "2"] ]"#, #"[[1.5,"2"]]"#, #"[["0","1"]]"#, #"[["1","-1"]]"#, #"[["1","2","3"]]"#,
        #"[["1.234","2"]]"#, #"[["1","2"],]"#, #"[["1","2"]"#, #"[["1","2"],["3""#, #"[["1"]]"#,
        #"[["99999999999999999","1"]]"#, #"[["1e2","1"]]"#, #"[["1.","1"]]"#, #"[["1","2"]x"#,
    ])
    func compactLevelsAgreeWithTheGeneralReader(text: String) {
        let out = UnsafeMutablePointer<BinanceLevel>.allocate(capacity: 4)
        defer { out.deallocate() }
        func read(_ compact: Bool) -> Result<[Int64], JSONError> {
            Result { () throws(JSONError) in
                try scan(text) { (s) throws(JSONError) -> [Int64] in
                    var overflow = false
                    let count = compact
                        ? try s.binanceLevels(into: out, capacity: 4, priceScale: Scale(2), quantityScale: Scale(4), overflow: &overflow)
                        : try s.generalLevels(into: out, capacity: 4, priceScale: Scale(2), quantityScale: Scale(4), overflow: &overflow)
                    return (0..<count).flatMap { [out[$0].price, out[$0].quantity] } + [s.isAtEnd() ? 1 : 0]
                }
            }
        }
        #expect(read(true) == read(false), "\(text)")
    }

    /// Seeded random decimals (digits, points, zeros, junk) in level arrays long enough for
    /// the 8-byte path: the one-walk reader and the general reader agree on every one.
    @Test func randomLevelArraysReadTheSameByBothReaders() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        func decimal() -> String {
            let alphabet = Array("0000123456789")
            var text = String((0..<(1 + next(10))).map { _ in alphabet[next(alphabet.count)] })
            if next(4) != 0 { text += "." + String((0..<next(12)).map { _ in next(3) == 0 ? alphabet[next(alphabet.count)] : "0" }) }
            if next(40) == 0 { text.insert(Array("-e+x ")[next(5)], at: text.index(text.startIndex, offsetBy: next(text.count))) }
            return text
        }
        let out = UnsafeMutablePointer<BinanceLevel>.allocate(capacity: 8)
        defer { out.deallocate() }
        var agreed = 0
        for _ in 0..<3000 {
            let levels = (0..<(1 + next(4))).map { _ in #"["\#(decimal())","\#(decimal())"]"# }.joined(separator: ",")
            let text = "[\(levels)]" + String(repeating: " ", count: next(20))
            let scales = (Scale(UInt8(next(9))), Scale(UInt8(next(9))))
            func read(_ compact: Bool) -> Result<[Int64], JSONError> {
                Result { () throws(JSONError) in
                    try scan(text) { (s) throws(JSONError) -> [Int64] in
                        var overflow = false
                        if compact {
                            let count = try s.binanceLevels(into: out, capacity: 8, priceScale: scales.0, quantityScale: scales.1, overflow: &overflow)
                            return (0..<count).flatMap { [out[$0].price, out[$0].quantity] }
                        }
                        // Reference: the shared scanner's own exact decimal (DecimalText), no fused code.
                        var values: [Int64] = []
                        try s.beginArray()
                        while try s.nextElement() {
                            try s.beginArray()
                            guard try s.nextElement() else { throw s.error(.missingField("price")) }
                            let priceOrigin = s.offset
                            let price = try s.decimal(scale: scales.0)
                            guard try s.nextElement() else { throw s.error(.missingField("quantity")) }
                            let quantityOrigin = s.offset
                            let quantity = try s.decimal(scale: scales.1)
                            if try s.nextElement() { throw s.error(.unexpectedByte(UInt8(ascii: ","))) }
                            guard price > 0 else { throw JSONError(.decimal(.invalidCharacter(offset: 0)), offset: priceOrigin) }
                            guard quantity >= 0 else { throw JSONError(.decimal(.invalidCharacter(offset: 0)), offset: quantityOrigin) }
                            values += [price, quantity]
                        }
                        return values
                    }
                }
            }
            let (compact, general) = (read(true), read(false))
            #expect(compact == general, "\(text) at scales \(scales)")
            if compact == general { agreed += 1 }
        }
        #expect(agreed == 3000)
    }

    @Test func moreLevelsThanTheScratchHoldsAreRefusedNotWrittenPastIt() throws {
        // The scratch holds max(maxLevelsPerSide, the REST snapshot limit) levels a side: 5000 on spot.
        var h = SpotHarness { $0.maxLevelsPerSide = 2 }
        try h.sync(first: 10, last: 12, lastUpdateId: 11)
        let levels = (1...5001).map { ("\($0).00", "1") }
        #expect(throws: VenueError.unexpectedMessage("depth event with more levels a side than maxLevelsPerSide")) {
            try h.send(h.depthFrame(13, 14, bids: levels))
        }
        #expect(h.events() == [.invalid(0, .malformedMessage)])
    }

    @Test func aLevelWithAThirdElementOrANegativeQuantityIsRefused() throws {
        var h = SpotHarness()
        try h.sync(first: 10, last: 12, lastUpdateId: 11)
        #expect(throws: VenueError.self) { try h.send(h.depthFrame(13, 14, bids: [("100.00", "1.000\",\"3")])) }
        #expect(h.events() == [.invalid(0, .malformedMessage)])
        try h.sync(first: 20, last: 22, lastUpdateId: 21)
        #expect(throws: VenueError.self) { try h.send(h.depthFrame(23, 24, bids: [("100.00", "-1.000")])) }
        #expect(h.events() == [.invalid(0, .malformedMessage)])
    }
}

import Benchmark
import Foundation
import TickwireCore
@_spi(Benchmarks) import TickwireVenues

// Venue parser benchmarks on real Binance depth diffs (../shared/samples/binance, ETHUSDT,
// 1000 contiguous diffs applied after each capture's REST snapshot). One iteration runs the
// 1000 combined-stream frames through the adapter (scan, exact fixed point, the venue's
// sequence rule, events) with scalingFactor .kilo, so times are per message and throughput
// is messages/s; the name carries the mean frame size, so MB/s = messages/s × bytes/message.
// Foundation's JSONDecoder (Codable, then the same exact decimal conversion) is the timed-only
// peer on the same frames.

func venueParseBenchmarks() {
    for venue in [Venue.binanceSpot, .binanceUSDM] {
        guard let frames = BinanceDepthFrames(venue: venue, count: 1000) else {
            print("venue parse benchmarks: ../shared/samples/binance not found, skipped")
            return
        }
        registerBinanceBenchmarks(frames)
    }
}

private func registerBinanceBenchmarks(_ frames: BinanceDepthFrames) {
    var perMessage = hotPathConfiguration
    perMessage.scalingFactor = .kilo
    precondition(frames.count == perMessage.scalingFactor.rawValue)
    var peerPerMessage = perMessage
    peerPerMessage.metrics = [.wallClock, .throughput]
    peerPerMessage.thresholds = nil

    let label = frames.venue == .binanceSpot ? "BinanceSpot" : "BinanceUSDM"
    let size = "(\(frames.bytes / frames.count) B/msg)"
    let eth = InstrumentId(0)
    let symbol = VenueSymbol(name: "ETHUSDT", instrument: eth, priceScale: Scale(frames.priceScale), quantityScale: Scale(frames.quantityScale))
    let configuration = BinanceConfiguration(wsURL: "wss://bench", restURL: "https://bench", symbols: [symbol])
    var requests: [VenueRequest] = []
    requests.reserveCapacity(16)

    func run<Rules: BinanceBookRules, Sink: VenueEventSink>(
        _ adapter: inout BinanceAdapter<Rules>, _ sink: inout Sink, _ benchmark: Benchmark
    ) throws {
        adapter.assumeSynced(eth, updateId: frames.startUpdateId)
        for index in benchmark.scaledIterations {
            try adapter.handle(message: frames[index], receiveTime: 1, sink: &sink, requests: &requests)
        }
    }

    // Parse + sync into a sink that only sums what it gets (the parser's own cost).
    var counting = CountingSink()
    if frames.venue == .binanceSpot {
        var adapter = BinanceSpotAdapter(configuration: configuration)
        Benchmark("\(label)DepthParse \(size)", configuration: perMessage) { benchmark in
            try run(&adapter, &counting, benchmark)
            blackHole(counting.checksum)
        }
    } else {
        var adapter = BinanceUSDMAdapter(configuration: configuration)
        Benchmark("\(label)DepthParse \(size)", configuration: perMessage) { benchmark in
            try run(&adapter, &counting, benchmark)
            blackHole(counting.checksum)
        }
    }

    // Parse + sync + apply to the order book through the BookKeeper (validation, publish).
    var instruments = InstrumentTable(capacity: 4)
    _ = try? instruments.add(venue: frames.venue, symbol: "ETHUSDT", priceScale: symbol.priceScale, quantityScale: symbol.quantityScale)
    guard let books = try? BookTable(capacity: 4, levelBudget: BookTable.levelBudget(books: 1, levelsPerSide: BookTable.defaultLevelsPerSide)),
          (try? books.activate(eth)) != nil else { fatalError("venue parse benchmarks: no book memory") }
    var keeper = BookKeeper(books: books, instruments: instruments, observer: NullObserver())
    // Each iteration starts from the book the capture had just before the first frame
    // (restoring ~2×1000 levels costs a few µs of the iteration's ~1.5 ms).
    func restoreBook<Observer: BookObserver>(_ keeper: inout BookKeeper<Observer>) {
        keeper.snapshotBegins(eth, receiveTime: 0)
        books.withBook(eth) { $0.applySnapshot(bids: frames.startBids, asks: frames.startAsks) }
        keeper.updateComplete(eth, venueUpdateId: frames.startUpdateId, checksum: .none, eventTime: 0, receiveTime: 0)
    }
    if frames.venue == .binanceSpot {
        var adapter = BinanceSpotAdapter(configuration: configuration)
        Benchmark("\(label)DepthParseAndApply \(size)", configuration: perMessage) { benchmark in
            restoreBook(&keeper)
            try run(&adapter, &keeper, benchmark)
        }
    } else {
        var adapter = BinanceUSDMAdapter(configuration: configuration)
        Benchmark("\(label)DepthParseAndApply \(size)", configuration: perMessage) { benchmark in
            restoreBook(&keeper)
            try run(&adapter, &keeper, benchmark)
        }
    }

    // Peer: Foundation JSONDecoder into Codable structs, then the same exact fixed point.
    let datas = (0..<frames.count).map { Data(frames[$0].rawBuffer) }
    let decoder = JSONDecoder()
    Benchmark("JSONDecoder\(label)DepthParse \(size)", configuration: peerPerMessage) { benchmark in
        var checksum: Int64 = 0
        for index in benchmark.scaledIterations {
            let frame = try decoder.decode(CodableDepthFrame.self, from: datas[index])
            checksum &+= Int64(bitPattern: frame.data.u &+ frame.data.U &+ (frame.data.pu ?? 0))
            for level in frame.data.b {
                checksum &+= try DecimalText.parse(level[0], scale: symbol.priceScale) &+ DecimalText.parse(level[1], scale: symbol.quantityScale)
            }
            for level in frame.data.a {
                checksum &+= try DecimalText.parse(level[0], scale: symbol.priceScale) &+ DecimalText.parse(level[1], scale: symbol.quantityScale)
            }
        }
        blackHole(checksum)
    }
}

/// Sums what the adapter emits so nothing is optimized away.
private struct CountingSink: VenueEventSink {
    var checksum: Int64 = 0

    mutating func snapshotBegins(_ instrument: InstrumentId, receiveTime: UInt64) {}
    mutating func bookDelta(_ delta: BookDelta) { checksum &+= delta.price.mantissa &+ delta.quantity.mantissa }
    mutating func updateComplete(_ instrument: InstrumentId, venueUpdateId: UInt64, checksum: VenueChecksum, eventTime: UInt64, receiveTime: UInt64) {
        self.checksum &+= Int64(bitPattern: venueUpdateId)
    }
    mutating func trade(_ trade: Trade) {}
    mutating func bestBidOffer(_ quote: BestBidOffer) {}
    mutating func bookInvalid(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        fatalError("benchmark frames must stay in sync (\(reason))")
    }
}

private struct NullObserver: BookObserver {
    mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {}
    var invalidations = 0
    mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        invalidations += 1
        if invalidations > 1 { fatalError("benchmark book turned invalid (\(reason))") }  // the first is the initial snapshotPending
    }
}

private struct CodableDepthFrame: Decodable {
    struct Depth: Decodable {
        var e: String
        var E: UInt64
        var T: UInt64?
        var s: String
        var U: UInt64
        var u: UInt64
        var pu: UInt64?
        var b: [[String]]
        var a: [[String]]
    }

    var stream: String
    var data: Depth
}

/// `count` contiguous depth frames from a capture, with the book just before the first: the
/// capture is synced through the real adapter and BookKeeper, and frames are taken from the
/// second live diff on (so the first one chains on the book's id). Kept in one buffer that
/// lives for the whole run (no ARC or bounds checks in the measured loop).
private struct BinanceDepthFrames {
    let venue: Venue
    let count: Int
    let bytes: Int
    let priceScale: UInt8
    let quantityScale: UInt8
    /// The book's update id just before the first frame.
    let startUpdateId: UInt64
    let startBids: UnsafeBufferPointer<BookLevel>
    let startAsks: UnsafeBufferPointer<BookLevel>
    private let base: UnsafeMutablePointer<UInt8>
    private let offsets: UnsafeMutablePointer<Int>

    init?(venue: Venue, count: Int) {
        let file = venue == .binanceSpot ? "spot-ethusdt-20240808.gz" : "usdm-ethusdt-20240808.gz"
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/samples/binance/\(file)")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        guard (try? process.run()) != nil else { return nil }
        let capture = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()

        self.venue = venue
        self.count = count
        priceScale = 2
        quantityScale = venue == .binanceSpot ? 8 : 3
        let eth = InstrumentId(0)
        let symbol = VenueSymbol(name: "ETHUSDT", instrument: eth, priceScale: Scale(priceScale), quantityScale: Scale(quantityScale))
        let configuration = BinanceConfiguration(wsURL: "wss://bench", restURL: "https://bench", symbols: [symbol],
                                                 bufferBytesPerSymbol: 4 << 20)
        var instruments = InstrumentTable(capacity: 4)
        guard (try? instruments.add(venue: venue, symbol: "ETHUSDT", priceScale: symbol.priceScale, quantityScale: symbol.quantityScale)) != nil,
              let books = try? BookTable(capacity: 4, levelBudget: BookTable.levelBudget(books: 1, levelsPerSide: BookTable.defaultLevelsPerSide)),
              (try? books.activate(eth)) != nil else { return nil }
        var keeper = BookKeeper(books: books, instruments: instruments, observer: NullObserver())

        func sync<Rules: BinanceBookRules>(_ rules: Rules.Type) -> (frames: [ArraySlice<UInt8>], start: UInt64, bids: [BookLevel], asks: [BookLevel]) {
            var adapter = BinanceAdapter<Rules>(configuration: configuration)
            var requests: [VenueRequest] = []
            adapter.connected(receiveTime: 0, sink: &keeper, requests: &requests)
            var frames: [ArraySlice<UInt8>] = []
            var start: UInt64 = 0
            var bids: [BookLevel] = [], asks: [BookLevel] = []
            let bytes = [UInt8](capture)
            bytes.withUnsafeBufferPointer { buffer in
                for line in bytes.split(separator: UInt8(ascii: "\n")) where frames.count < count {
                    guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { continue }
                    let frame = line[(space + 1)...]
                    let view = ByteView(start: buffer.baseAddress! + frame.startIndex, count: frame.count)
                    let text = String(decoding: frame.prefix(48), as: UTF8.self)
                    if text.hasPrefix(#"{"lastUpdateId""#) {
                        try? adapter.handleSnapshot(eth, body: view, receiveTime: 0, sink: &keeper, requests: &requests)
                        continue
                    }
                    guard text.contains("@depth") else { continue }
                    if frames.isEmpty && adapter.binanceCounters(eth).depthUpdatesApplied >= 1 {
                        start = adapter.localUpdateId(of: eth)!
                        books.withBook(eth) { book in
                            book.forEachLevel(.bid) { bids.append($0) }
                            book.forEachLevel(.ask) { asks.append($0) }
                        }
                    }
                    let applied = adapter.binanceCounters(eth).depthUpdatesApplied
                    try? adapter.handle(message: view, receiveTime: 0, sink: &keeper, requests: &requests)
                    if applied >= 1 {
                        precondition(adapter.binanceCounters(eth).depthUpdatesApplied == applied + 1, "capture frames must chain")
                        frames.append(frame)
                    }
                }
            }
            return (frames, start, bids, asks)
        }
        let synced = venue == .binanceSpot ? sync(BinanceSpotRules.self) : sync(BinanceUSDMRules.self)
        guard synced.frames.count == count else { return nil }
        startUpdateId = synced.start
        startBids = UnsafeBufferPointer(Self.copy(synced.bids))
        startAsks = UnsafeBufferPointer(Self.copy(synced.asks))
        bytes = synced.frames.reduce(0) { $0 + $1.count }
        base = .allocate(capacity: bytes)
        offsets = .allocate(capacity: count + 1)
        var offset = 0
        for (index, frame) in synced.frames.enumerated() {
            offsets[index] = offset
            for byte in frame {
                base[offset] = byte
                offset += 1
            }
        }
        offsets[count] = offset
    }

    private static func copy(_ levels: [BookLevel]) -> UnsafeMutableBufferPointer<BookLevel> {
        let buffer = UnsafeMutableBufferPointer<BookLevel>.allocate(capacity: levels.count)
        _ = buffer.initialize(fromContentsOf: levels)
        return buffer
    }

    subscript(index: Int) -> ByteView {
        ByteView(start: base + offsets[index], count: offsets[index + 1] - offsets[index])
    }
}

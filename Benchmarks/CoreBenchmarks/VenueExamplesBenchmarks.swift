import Benchmark
import TickwireCore
import TickwireVenues

// Bybit, OKX, Coinbase and Kraken adapters on each venue's documented example delta
// (../shared/reference/exchange-formats.md §3-6): one iteration feeds 1000 such messages
// through the adapter — scan, exact fixed point, the venue's sync rule, events — into a sink
// that only counts (scalingFactor .kilo: times are per message, throughput messages/s; the
// name carries the frame size, so MB/s = messages/s × bytes/message). Sequence fields are
// rewritten so every message passes the venue's continuity rule: Bybit and OKX restart from a
// snapshot before each iteration (outside the measurement), Coinbase's per-connection
// `sequence_num` is patched in place before each iteration (also outside it), Kraken has none.

func venueExampleBenchmarks() {
    var perMessage = hotPathConfiguration
    perMessage.scalingFactor = .kilo
    let count = perMessage.scalingFactor.rawValue
    do {
        try registerBybit(perMessage, count: count)
        try registerOKX(perMessage, count: count)
        try registerCoinbase(perMessage, count: count)
        try registerKraken(perMessage, count: count)
    } catch {
        fatalError("venue example benchmarks: set-up failed: \(error)")
    }
}

/// Counts what the adapter emits (so none of it is optimized away) and nothing more.
private struct ExampleCountingSink: VenueEventSink {
    var events = 0
    var sum: Int64 = 0

    mutating func snapshotBegins(_ instrument: InstrumentId, receiveTime: UInt64) { events &+= 1 }
    mutating func bookDelta(_ delta: BookDelta) {
        events &+= 1
        sum &+= delta.price.mantissa &+ delta.quantity.mantissa
    }
    mutating func updateComplete(_ instrument: InstrumentId, venueUpdateId: UInt64, checksum: VenueChecksum, eventTime: UInt64, receiveTime: UInt64) {
        events &+= 1
        sum &+= Int64(truncatingIfNeeded: venueUpdateId)
    }
    mutating func trade(_ trade: Trade) { events &+= 1 }
    mutating func bestBidOffer(_ quote: BestBidOffer) { events &+= 1 }
    mutating func bookInvalid(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) { events &+= 1 }
}

/// Frames laid out in one buffer that lives as long as the benchmark process.
private struct Frames {
    let base: UnsafeMutablePointer<UInt8>
    let offsets: [Int]
    let lengths: [Int]

    init(_ texts: [String]) {
        let total = texts.reduce(0) { $0 + $1.utf8.count }
        base = .allocate(capacity: max(total, 1))
        var offsets: [Int] = [], lengths: [Int] = []
        var offset = 0
        for text in texts {
            let bytes = Array(text.utf8)
            (base + offset).initialize(from: bytes, count: bytes.count)
            offsets.append(offset)
            lengths.append(bytes.count)
            offset += bytes.count
        }
        self.offsets = offsets
        self.lengths = lengths
    }

    subscript(index: Int) -> ByteView { ByteView(start: base + offsets[index], count: lengths[index]) }
    var meanSize: Int { lengths.reduce(0, +) / max(lengths.count, 1) }
}

private func symbol(_ name: String, price: UInt8, quantity: UInt8) -> VenueSymbol {
    VenueSymbol(name: name, instrument: InstrumentId(0), priceScale: Scale(price), quantityScale: Scale(quantity))
}

private func register<Adapter: VenueAdapter>(
    _ name: String, _ configuration: Benchmark.Configuration, adapter: Adapter, frames: Frames,
    beforeEachIteration: @escaping (inout Adapter, inout ExampleCountingSink, inout [VenueRequest]) throws -> Void
) {
    var adapter = adapter
    var sink = ExampleCountingSink()
    var requests: [VenueRequest] = []
    requests.reserveCapacity(64)
    Benchmark("\(name) (\(frames.meanSize) B/msg)", configuration: configuration) { benchmark in
        try beforeEachIteration(&adapter, &sink, &requests)
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            try adapter.handle(message: frames[index], receiveTime: 2, sink: &sink, requests: &requests)
        }
        benchmark.stopMeasurement()
        precondition(requests.isEmpty, "\(name): the adapter asked for a resync: the example frames do not chain")
        blackHole(sink.sum)
    }
}

/// Feeds a String frame outside the measurement.
private func feed<Adapter: VenueAdapter>(_ text: String, _ adapter: inout Adapter, _ sink: inout ExampleCountingSink, _ requests: inout [VenueRequest]) throws {
    var text = text
    try text.withUTF8 { utf8 in
        try adapter.handle(message: ByteView(start: utf8.baseAddress!, count: utf8.count), receiveTime: 1, sink: &sink, requests: &requests)
    }
}

// MARK: Bybit §3: the documented `orderbook.200.BTCUSDT` delta, `u` counting up from a snapshot.

private func registerBybit(_ configuration: Benchmark.Configuration, count: Int) throws {
    let firstU: UInt64 = 15_076_953
    let snapshot = #"{"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":1786310818129,"data":{"s":"BTCUSDT","b":[["65114.20","6.054"],["65093.10","1.000"]],"a":[["65114.30","10.486"],["65116.60","2.000"]],"u":\#(firstU - 1),"seq":753843911359},"cts":1786310818027}"#
    let frames = Frames((0..<count).map { index in
        #"{"topic":"orderbook.200.BTCUSDT","type":"delta","ts":1786310818130,"data":{"s":"BTCUSDT","b":[["65093.10","0"],["65092.20","0.641"]],"a":[["65116.60","0"]],"u":\#(firstU + UInt64(index)),"seq":753843913870},"cts":1786310818129}"#
    })
    let adapter = try BybitAdapter(category: .linear, symbols: [symbol("BTCUSDT", price: 2, quantity: 3)], depth: 200)
    register("BybitExampleDelta", configuration, adapter: adapter, frames: frames) { adapter, sink, requests in
        try feed(snapshot, &adapter, &sink, &requests)
    }
}

// MARK: OKX §4: the documented `books` update shape, prevSeqId chaining from a snapshot.

private func registerOKX(_ configuration: Benchmark.Configuration, count: Int) throws {
    let firstSeq: Int64 = 123_457
    let snapshot = #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"],["8477","7","0","2"]],"bids":[["8476.97","256","0","12"],["8475.55","101","0","1"]],"ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":\#(firstSeq - 1)}]}"#
    let frames = Frames((0..<count).map { index in
        let seq = firstSeq + Int64(index)
        return #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","checksum":-855196043,"prevSeqId":\#(seq - 1),"seqId":\#(seq)}]}"#
    })
    let adapter = try OKXAdapter(symbols: [symbol("BTC-USDT", price: 2, quantity: 0)])
    register("OKXExampleUpdate", configuration, adapter: adapter, frames: frames) { adapter, sink, requests in
        try feed(snapshot, &adapter, &sink, &requests)
    }
}

// MARK: Coinbase §6: the captured `l2_data` update, `sequence_num` continuing across iterations.

private func registerCoinbase(_ configuration: Benchmark.Configuration, count: Int) throws {
    // 12-digit sequence numbers, rewritten in place: the frames keep their length.
    var next: UInt64 = 100_000_000_000
    let snapshot = #"{"channel":"l2_data","client_id":"","timestamp":"2026-08-09T21:05:48.483587501Z","sequence_num":\#(next - 1),"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2026-08-09T21:05:48.170326Z","price_level":"65083.66","new_quantity":"0.20371215"},{"side":"offer","event_time":"2026-08-09T21:05:48.170326Z","price_level":"65106.54","new_quantity":"0.5"}]}]}"#
    let prefix = #"{"channel":"l2_data","client_id":"","timestamp":"2026-08-09T21:05:48.506659391Z","sequence_num":"#
    let update = prefix + "000000000000" + #","events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"offer","event_time":"2026-08-09T21:05:48.264069Z","price_level":"65106.54","new_quantity":"0.15361938"}]}]}"#
    let frames = Frames(Array(repeating: update, count: count))
    let digitsOffset = prefix.utf8.count
    var adapter = try CoinbaseAdapter(symbols: [symbol("BTC-USD", price: 2, quantity: 8)])
    var setupSink = ExampleCountingSink()
    var setupRequests: [VenueRequest] = []
    adapter.connected(receiveTime: 1, sink: &setupSink, requests: &setupRequests)
    try feed(snapshot, &adapter, &setupSink, &setupRequests)
    register("CoinbaseExampleUpdate", configuration, adapter: adapter, frames: frames) { _, _, _ in
        for index in 0..<count {
            var value = next
            let digits = frames.base + frames.offsets[index] + digitsOffset
            for position in stride(from: 11, through: 0, by: -1) {
                digits[position] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            next += 1
        }
    }
}

// MARK: Kraken §5: the captured ETH/USD `book` update (no sequence: the same frame each time).

private func registerKraken(_ configuration: Benchmark.Configuration, count: Int) throws {
    let snapshot = #"{"channel":"book","type":"snapshot","data":[{"symbol":"ETH/USD","bids":[{"price":1797.24,"qty":0.43393711}],"asks":[{"price":1797.25,"qty":1.40355852},{"price":1797.29,"qty":0.5}],"checksum":2606672715,"timestamp":"2025-05-06T09:17:26.100000Z"}]}"#
    let update = #"{"channel":"book","type":"update","data":[{"symbol":"ETH/USD","bids":[],"asks":[{"price":1797.29,"qty":0.00000000},{"price":1797.52,"qty":1.56601318}],"checksum":3329440863,"timestamp":"2025-05-06T09:17:26.208075Z"}]}"#
    let frames = Frames(Array(repeating: update, count: count))
    var adapter = try KrakenAdapter(symbols: [symbol("ETH/USD", price: 2, quantity: 8)], depth: 10)
    var setupSink = ExampleCountingSink()
    var setupRequests: [VenueRequest] = []
    adapter.connected(receiveTime: 1, sink: &setupSink, requests: &setupRequests)
    try feed(snapshot, &adapter, &setupSink, &setupRequests)
    register("KrakenExampleUpdate", configuration, adapter: adapter, frames: frames) { _, _, _ in }
}

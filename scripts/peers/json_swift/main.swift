// Swift side of the JSON head-to-head (scripts/bench-peers.sh `json` section): the same
// Binance depth diffs as json_peer.cpp (simdjson On-Demand) through Tickwire's adapter —
// scan, exact fixed point, the venue's continuity rule, events into a summing sink — with
// the same output lines and the same checksum (u, E in ns, every price + quantity mantissa).
//
// Usage: json_swift FILE spot|usdm [min_seconds]
@_spi(Benchmarks) import TickwireVenues
import TickwireCore

#if canImport(Glibc)
import Glibc
#endif

struct SummingSink: VenueEventSink {
    var checksum: UInt64 = 0

    mutating func snapshotBegins(_ instrument: InstrumentId, receiveTime: UInt64) {}
    mutating func bookDelta(_ delta: BookDelta) {
        checksum &+= UInt64(bitPattern: delta.price.mantissa) &+ UInt64(bitPattern: delta.quantity.mantissa)
    }
    mutating func updateComplete(_ instrument: InstrumentId, venueUpdateId: UInt64, checksum: VenueChecksum, eventTime: UInt64, receiveTime: UInt64) {
        self.checksum &+= venueUpdateId &+ eventTime
    }
    mutating func trade(_ trade: Trade) {}
    mutating func bestBidOffer(_ quote: BestBidOffer) {}
    mutating func bookInvalid(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        fatalError("json_swift: book invalid (\(reason))")
    }
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

let arguments = CommandLine.arguments
guard arguments.count >= 3, let file = fopen(arguments[1], "rb") else { fatalError("usage: json_swift FILE spot|usdm [min_seconds]") }
let spot = arguments[2] == "spot"
let minSeconds = arguments.count > 3 ? Double(arguments[3])! : 0.5
fseek(file, 0, SEEK_END)
let size = ftell(file)
fseek(file, 0, SEEK_SET)
let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
guard fread(buffer, 1, size, file) == size else { fatalError("json_swift: short read") }
fclose(file)

var starts: [Int] = []
var lengths: [Int] = []
var start = 0
while start < size {
    var end = start
    while end < size && buffer[end] != UInt8(ascii: "\n") { end += 1 }
    if end > start {
        starts.append(start)
        lengths.append(end - start)
    }
    start = end + 1
}
let count = starts.count
let frames = UnsafeMutableBufferPointer<ByteView>.allocate(capacity: count)
for index in 0..<count { frames[index] = ByteView(start: buffer + starts[index], count: lengths[index]) }

/// The book's id before the first frame: spot `U - 1`, USD-M `pu`.
func field(_ name: StaticString, in frame: ByteView) -> UInt64 {
    var scanner = JSONScanner(frame)
    var value: UInt64 = 0
    do {
        try scanner.beginObject()
        while let key = try scanner.nextKey() {
            guard key == "data" else { try scanner.skipValue(); continue }
            try scanner.beginObject()
            while let member = try scanner.nextKey() {
                if member == name { value = try scanner.uint64() } else { try scanner.skipValue() }
            }
        }
    } catch { fatalError("json_swift: first frame: \(error)") }
    return value
}
let startId = spot ? field("U", in: frames[0]) - 1 : field("pu", in: frames[0])

let eth = InstrumentId(0)
let symbol = VenueSymbol(name: "ETHUSDT", instrument: eth, priceScale: Scale(2), quantityScale: Scale(spot ? 8 : 3))
let configuration = BinanceConfiguration(wsURL: "wss://bench", restURL: "https://bench", symbols: [symbol])
var requests: [VenueRequest] = []

@inline(never)
func run<Rules: BinanceBookRules>(_ adapter: inout BinanceAdapter<Rules>, _ sink: inout SummingSink) {
    adapter.assumeSynced(eth, updateId: startId)
    var index = 0
    while index < count {
        do {
            try adapter.handle(message: frames[index], receiveTime: 0, sink: &sink, requests: &requests)
        } catch {
            fatalError("json_swift: \(error)")
        }
        index &+= 1
    }
}

func measure<Rules: BinanceBookRules>(_ rules: Rules.Type) {
    var adapter = BinanceAdapter<Rules>(configuration: configuration)
    var warm = SummingSink()
    run(&adapter, &warm)  // untimed: page-in, caches warm
    var sink = SummingSink()
    var passes: UInt64 = 0
    let begin = monotonicNanoseconds()
    var elapsed: UInt64 = 0
    repeat {
        run(&adapter, &sink)
        passes += 1
        elapsed = monotonicNanoseconds() - begin
    } while Double(elapsed) < minSeconds * 1e9
    let bytes = lengths.reduce(0, +)
    print("ns_per_msg \(Double(Int(Double(elapsed) / Double(passes * UInt64(count)) * 100)) / 100)")
    print("messages \(count)")
    print("bytes \(bytes)")
    print("checksum \(warm.checksum)")
}

if spot { measure(BinanceSpotRules.self) } else { measure(BinanceUSDMRules.self) }

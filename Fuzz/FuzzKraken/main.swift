import FuzzSupport
import TickwireVenues

// libFuzzer target: Kraken WebSocket v2 `book` and `trade` messages through KrakenAdapter into
// a BookKeeper (top-10 CRC32 after every message, truncation to depth 10).
// Harness and input format: Fuzz/FuzzSupport/VenueFuzzer.swift.
enum Target {
    nonisolated(unsafe) static let fuzzer = VenueFuzzer(
        venue: .kraken, symbols: ["BTC/USD", "ETH/USD"], priceScale: 1, quantityScale: 8, levelsPerSide: 10,
        recovery: FuzzRecovery(records: [
            // checksum = zlib.crc32(b"452852100000" + b"45283510000000")
            #"{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.10000000}],"asks":[{"price":45285.2,"qty":0.00100000}],"checksum":2383917627,"timestamp":"2023-10-06T17:35:55.440295Z"}]}"#,
        ], bestBid: 452835, bestAsk: 452852)
    ) {
        try KrakenAdapter(symbols: $0, depth: 10, maxTradesPerMessage: 64)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKraken(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Target.fuzzer.run(data, size)
    return 0
}

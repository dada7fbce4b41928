import FuzzSupport
import TickwireVenues

// libFuzzer target: Binance spot messages and REST snapshots (`!<i>` records) through
// BinanceSpotAdapter into a BookKeeper. Harness and input format: Fuzz/FuzzSupport/VenueFuzzer.swift.
enum Target {
    nonisolated(unsafe) static let fuzzer = VenueFuzzer(
        venue: .binanceSpot, symbols: ["ETHUSDT", "BTCUSDT"], priceScale: 2, quantityScale: 8, levelsPerSide: 64,
        recovery: FuzzRecovery(records: [
            #"{"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1000,"u":1001,"b":[["100.00","1.00000000"]],"a":[]}}"#,
            #"!0{"lastUpdateId":1000,"bids":[["99.00","2.00000000"]],"asks":[["101.00","2.00000000"]]}"#,
        ], bestBid: 10000, bestAsk: 10100)
    ) {
        // Small buffers and level limits, so overflow paths are reachable.
        BinanceSpotAdapter(configuration: BinanceConfiguration(
            wsURL: "wss://stream.binance.com:9443", restURL: "https://api.binance.com", symbols: $0,
            depthStream: "depth@100ms", bufferBytesPerSymbol: 4096, maxLevelsPerSide: 100))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBinanceSpot(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Target.fuzzer.run(data, size)
    return 0
}

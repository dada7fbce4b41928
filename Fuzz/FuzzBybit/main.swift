import FuzzSupport
import TickwireVenues

// libFuzzer target: Bybit v5 linear messages through BybitAdapter into a BookKeeper.
// Harness and input format: Fuzz/FuzzSupport/VenueFuzzer.swift.
enum Target {
    nonisolated(unsafe) static let fuzzer = VenueFuzzer(
        venue: .bybitLinear, symbols: ["BTCUSDT", "ETHUSDT"], priceScale: 2, quantityScale: 3, levelsPerSide: 200,
        recovery: FuzzRecovery(records: [
            #"{"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["100.00","1"]],"a":[["101.00","1"]],"u":5,"seq":1},"cts":1}"#,
        ], bestBid: 10000, bestAsk: 10100)
    ) {
        try BybitAdapter(category: .linear, symbols: $0, depth: 200)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBybit(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Target.fuzzer.run(data, size)
    return 0
}

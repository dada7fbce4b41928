import FuzzSupport
import TickwireVenues

// libFuzzer target: Coinbase Advanced Trade `level2`, `market_trades` and heartbeat messages
// through CoinbaseAdapter into a BookKeeper. Harness and input format: Fuzz/FuzzSupport/VenueFuzzer.swift.
enum Target {
    nonisolated(unsafe) static let fuzzer = VenueFuzzer(
        venue: .coinbase, symbols: ["BTC-USD", "ETH-USD"], priceScale: 2, quantityScale: 8, levelsPerSide: 100,
        recovery: FuzzRecovery(records: [
            #"{"channel":"l2_data","client_id":"","timestamp":"2026-08-09T21:05:48.1Z","sequence_num":0,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2026-08-09T21:05:48.1Z","price_level":"100.00","new_quantity":"1"},{"side":"offer","event_time":"2026-08-09T21:05:48.1Z","price_level":"101.00","new_quantity":"1"}]}]}"#,
        ], bestBid: 10000, bestAsk: 10100)
    ) {
        try CoinbaseAdapter(symbols: $0, maxLevelsPerMessage: 256, maxTradesPerMessage: 64)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCoinbase(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Target.fuzzer.run(data, size)
    return 0
}

import FuzzSupport
import TickwireVenues

// libFuzzer target: Binance USD-M futures messages and REST snapshots (`!<i>` records) through
// BinanceUSDMAdapter into a BookKeeper. Harness and input format: Fuzz/FuzzSupport/VenueFuzzer.swift.
enum Target {
    nonisolated(unsafe) static let fuzzer = VenueFuzzer(
        venue: .binanceUSDM, symbols: ["ETHUSDT", "BTCUSDT"], priceScale: 2, quantityScale: 3, levelsPerSide: 64,
        recovery: FuzzRecovery(records: [
            #"{"stream":"ethusdt@depth@0ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"ETHUSDT","U":1000,"u":1001,"pu":999,"b":[["100.00","1.000"]],"a":[]}}"#,
            #"!0{"lastUpdateId":1000,"E":1,"T":1,"bids":[["99.00","2.000"]],"asks":[["101.00","2.000"]]}"#,
        ], bestBid: 10000, bestAsk: 10100)
    ) {
        BinanceUSDMAdapter(configuration: BinanceConfiguration(
            wsURL: "wss://fstream.binance.com", restURL: "https://fapi.binance.com", symbols: $0,
            depthStream: "depth@0ms", bufferBytesPerSymbol: 4096, maxLevelsPerSide: 100))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBinanceUSDM(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Target.fuzzer.run(data, size)
    return 0
}

import FuzzSupport
import TickwireVenues

// libFuzzer target: OKX v5 `books` and `trades` messages through OKXAdapter into a BookKeeper
// (seqId chain and CRC32 checksum). Harness and input format: Fuzz/FuzzSupport/VenueFuzzer.swift.
enum Target {
    nonisolated(unsafe) static let fuzzer = VenueFuzzer(
        venue: .okx, symbols: ["BTC-USDT", "ETH-USDT"], priceScale: 2, quantityScale: 8, levelsPerSide: 400,
        recovery: FuzzRecovery(records: [
            #"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["101","1","0","1"]],"bids":[["100","1","0","1"]],"ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":10}]}"#,
        ], bestBid: 10000, bestAsk: 10100)
    ) {
        try OKXAdapter(symbols: $0, channel: .books)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOKX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    Target.fuzzer.run(data, size)
    return 0
}

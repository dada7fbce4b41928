import TickwireCore

/// Binance USD-M futures (`binance-usdm`): diff depth `@depth@0ms/100ms/250ms/500ms` (with `pu`), trades, `@bookTicker`.
public typealias BinanceUSDMAdapter = BinanceAdapter<BinanceUSDMRules>

/// Binance USD-M's "How to manage a local order book correctly" (exchange-formats.md §2):
/// 4. drop events with `u` < `lastUpdateId`;
/// 5. the first processed event must have `U <= lastUpdateId` AND `u >= lastUpdateId`;
/// 6. each new event's `pu` must equal the previous event's `u`, otherwise start again.
/// There is no step "snapshot older than the first event": a buffered first event with
/// `U` > `lastUpdateId` means the snapshot is too old, so it is fetched again (step 3).
public enum BinanceUSDMRules: BinanceBookRules {
    public static var venue: Venue { .binanceUSDM }
    public static var snapshotPath: String { "/fapi/v1/depth" }
    public static var snapshotLimit: Int { 1000 }
    public static var requiresPreviousId: Bool { true }
    public static var depthStreams: [String] { ["depth", "depth@0ms", "depth@100ms", "depth@250ms", "depth@500ms"] }

    @inlinable
    public static func isCoveredBySnapshot(_ event: BinanceDepthIds, lastUpdateId: UInt64) -> Bool {
        event.last < lastUpdateId
    }

    @inlinable
    public static func snapshotPredatesBuffer(lastUpdateId: UInt64, firstBufferedId: UInt64) -> Bool {
        false
    }

    @inlinable
    public static func firstEvent(_ event: BinanceDepthIds, lastUpdateId: UInt64, buffered: Bool) -> BinanceFirstEventDecision {
        if event.first <= lastUpdateId && lastUpdateId <= event.last { return .apply }
        return buffered && event.first > lastUpdateId ? .refetchSnapshot : .gap
    }

    @inlinable
    public static func nextEvent(_ event: BinanceDepthIds, localUpdateId: UInt64) -> BinanceContinuity {
        event.previous == localUpdateId ? .apply : .gap
    }
}

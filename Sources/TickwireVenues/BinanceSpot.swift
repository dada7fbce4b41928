import TickwireCore

/// Binance spot (`binance-spot`): diff depth `@depth` / `@depth@100ms`, `@trade`, `@aggTrade`, `@bookTicker`.
public typealias BinanceSpotAdapter = BinanceAdapter<BinanceSpotRules>

/// Binance spot's "How to manage a local order book correctly" (current version,
/// exchange-formats.md §1):
/// 4. snapshot `lastUpdateId` < `U` of the first event received → fetch the snapshot again;
/// 5. discard buffered events with `u <= lastUpdateId`; the first one left must have
///    `lastUpdateId` within its `[U;u]`;
/// then per event: `u` < local id → ignore; `U` > local id + 1 → gap, restart; else apply, local id = `u`.
public enum BinanceSpotRules: BinanceBookRules {
    public static var venue: Venue { .binanceSpot }
    public static var snapshotPath: String { "/api/v3/depth" }
    public static var snapshotLimit: Int { 5000 }
    public static var requiresPreviousId: Bool { false }
    public static var depthStreams: [String] { ["depth", "depth@100ms"] }

    @inlinable
    public static func isCoveredBySnapshot(_ event: BinanceDepthIds, lastUpdateId: UInt64) -> Bool {
        event.last <= lastUpdateId
    }

    @inlinable
    public static func snapshotPredatesBuffer(lastUpdateId: UInt64, firstBufferedId: UInt64) -> Bool {
        lastUpdateId < firstBufferedId
    }

    /// Step 5 speaks of the first *buffered* event left; when the buffer held nothing newer
    /// than the snapshot, live events follow the update procedure from the snapshot's id.
    @inlinable
    public static func firstEvent(_ event: BinanceDepthIds, lastUpdateId: UInt64, buffered: Bool) -> BinanceFirstEventDecision {
        guard buffered else { return .useUpdateProcedure }
        return event.first <= lastUpdateId && lastUpdateId <= event.last ? .apply : .gap
    }

    @inlinable
    public static func nextEvent(_ event: BinanceDepthIds, localUpdateId: UInt64) -> BinanceContinuity {
        if event.last < localUpdateId { return .ignoreStale }
        if event.first > localUpdateId &+ 1 { return .gap }
        return .apply
    }
}

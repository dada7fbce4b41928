import CTickwire

/// Where publishers read the time they stamp into packets and measure idleness against.
/// Generic, not a closure: the read inlines on the send path, and tests inject a clock they
/// move by hand (heartbeats, pacing and rate limits are then checked without sleeping).
public protocol PublisherClock {
    /// ns since the Unix epoch.
    func now() -> UInt64
}

/// CLOCK_REALTIME: packet send times are wall-clock ns (docs/PROTOCOL.md section 1).
public struct WallClock: PublisherClock {
    @inlinable public init() {}
    @inlinable public func now() -> UInt64 { ctw_realtime_ns() }
}

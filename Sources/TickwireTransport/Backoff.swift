/// Reconnect delays: exponential growth from `initial` up to `maximum`, with full jitter
/// (each delay uniform in [0, ceiling]) so many feeders do not reconnect in lockstep.
/// A connection that stayed up for `stableAfter` starts the sequence over.
public struct Backoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    public var stableAfter: Duration
    /// Delays handed out since the last reset.
    public private(set) var attempt = 0

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(30), stableAfter: Duration = .seconds(60)) {
        self.initial = initial
        self.maximum = maximum
        self.stableAfter = stableAfter
    }

    /// The upper bound of the delay for attempt `attempt`: min(maximum, initial · 2^attempt).
    public func ceiling(forAttempt attempt: Int) -> Duration {
        let initialNanoseconds = Self.nanoseconds(initial)
        let maximumNanoseconds = Self.nanoseconds(maximum)
        guard attempt < 63, initialNanoseconds <= maximumNanoseconds >> UInt64(attempt) else { return maximum }
        return .nanoseconds(Int64(initialNanoseconds << UInt64(attempt)))
    }

    /// The next delay, drawn from `random` (inject a seeded generator in tests).
    public mutating func nextDelay(using random: inout some RandomNumberGenerator) -> Duration {
        let ceiling = Self.nanoseconds(ceiling(forAttempt: attempt))
        attempt += 1
        return .nanoseconds(Int64(UInt64.random(in: 0...ceiling, using: &random)))
    }

    public mutating func nextDelay() -> Duration {
        var random = SystemRandomNumberGenerator()
        return nextDelay(using: &random)
    }

    /// Call when a connection ends after being up for `uptime`; a stable one resets the sequence.
    public mutating func connectionEnded(after uptime: Duration) {
        if uptime >= stableAfter { reset() }
    }

    public mutating func reset() { attempt = 0 }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? UInt64(Int64.max) : min(UInt64(Int64.max), whole + UInt64(attoseconds / 1_000_000_000))
    }
}

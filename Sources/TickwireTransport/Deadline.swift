import CTickwire

/// A point on the monotonic clock after which a blocking set-up step gives up.
struct Deadline {
    let nanoseconds: UInt64

    init(after timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        let timeoutNanoseconds = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds)) / 1_000_000_000
        nanoseconds = ctw_monotonic_ns() &+ timeoutNanoseconds
    }

    /// Milliseconds left for poll(2), rounded up so we never spin on a sub-millisecond rest; 0 once passed.
    var remainingMilliseconds: Int32 {
        let now = ctw_monotonic_ns()
        guard now < nanoseconds else { return 0 }
        return Int32(clamping: (nanoseconds - now + 999_999) / 1_000_000)
    }

    var hasPassed: Bool { ctw_monotonic_ns() >= nanoseconds }
}

import Testing
import TickwireTransport
@testable import TickwireRuntime

// Per-requester token buckets: exact integer refills, the burst cap, and a fixed table
// that forgets the least recent requester when full.

@Suite struct RequesterRateLimitTests {
    static let first = IPv4Address(0x7F00_0001), second = IPv4Address(0x7F00_0002), third = IPv4Address(0x7F00_0003)

    @Test func newRequesterStartsWithAFullBurstThenRefillsAtTheRate() {
        var limits = RequesterRateLimit(packetsPerSecond: 3, burst: 10, requesters: 4)
        #expect(limits.take(25, for: Self.first, now: 1_000) == 10)
        #expect(limits.take(1, for: Self.first, now: 1_000) == 0)
        #expect(limits.take(5, for: Self.first, now: 1_000 + 333_333_333) == 0, "just under one token at 3/s")
        #expect(limits.take(5, for: Self.first, now: 1_000 + 333_333_334) == 1, "the fractions add up exactly")
        #expect(limits.take(50, for: Self.first, now: 1_000 + 3_600_000_000_000) == 10, "an hour later: the burst, not more")
    }

    @Test func eachAddressHasItsOwnBucket() {
        var limits = RequesterRateLimit(packetsPerSecond: 1, burst: 2, requesters: 4)
        #expect(limits.take(2, for: Self.first, now: 0) == 2)
        #expect(limits.take(2, for: Self.second, now: 0) == 2)
        #expect(limits.take(1, for: Self.first, now: 0) == 0)
    }

    @Test func fullTableForgetsTheLeastRecentRequester() {
        var limits = RequesterRateLimit(packetsPerSecond: 1, burst: 2, requesters: 2)
        #expect(limits.take(2, for: Self.first, now: 10) == 2)
        #expect(limits.take(2, for: Self.second, now: 20) == 2)
        #expect(limits.take(2, for: Self.third, now: 30) == 2, "takes the first requester's place")
        #expect(limits.take(2, for: Self.second, now: 30) == 0, "the second was kept, still empty")
        #expect(limits.take(2, for: Self.first, now: 30) == 2, "the first comes back as new")
    }

    @Test func clockGoingBackwardsRefillsNothing() {
        var limits = RequesterRateLimit(packetsPerSecond: 1000, burst: 1, requesters: 1)
        #expect(limits.take(1, for: Self.first, now: 5_000_000_000) == 1)
        #expect(limits.take(1, for: Self.first, now: 1_000_000_000) == 0)
        #expect(limits.take(1, for: Self.first, now: 5_000_999_999) == 0)
        #expect(limits.take(1, for: Self.first, now: 5_001_000_000) == 1)
    }
}

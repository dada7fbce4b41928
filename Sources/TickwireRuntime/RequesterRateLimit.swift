import TickwireTransport

/// Token buckets per requester IPv4 address in a fixed table (no allocation after init): one
/// token per packet, refilled at `packetsPerSecond` up to `burst`, a new requester starting
/// full. When the table is full the requester seen least recently gives up its bucket: it
/// had the longest to refill, so forgetting it costs it least.
struct RequesterRateLimit {
    private struct Bucket {
        var address: IPv4Address
        /// In billionths of a token, so refills are exact integers at any rate.
        var nanoTokens: UInt64
        var lastRefill: UInt64
    }

    private static let nano: UInt64 = 1_000_000_000
    private let packetsPerSecond: UInt64
    private let burstNanoTokens: UInt64
    /// The longest gap worth refilling for: beyond it the bucket is full anyway (and the
    /// product with the rate stays far from overflowing).
    private let fullRefillNanoseconds: UInt64
    private var buckets: [Bucket]
    private let capacity: Int

    init(packetsPerSecond: Int, burst: Int, requesters: Int) {
        precondition(packetsPerSecond > 0 && packetsPerSecond <= 1_000_000_000, "packetsPerSecond must be 1...1e9")
        precondition(burst > 0 && burst <= 1_000_000_000, "burst must be 1...1e9")
        precondition(requesters > 0, "the table needs room for a requester")
        self.packetsPerSecond = UInt64(packetsPerSecond)
        burstNanoTokens = UInt64(burst) * Self.nano
        fullRefillNanoseconds = UInt64(burst) * Self.nano / UInt64(packetsPerSecond) + 1
        capacity = requesters
        buckets = []
        buckets.reserveCapacity(requesters)
    }

    /// Takes up to `wanted` tokens from the bucket of `address` at time `now`; returns how many it got.
    mutating func take(_ wanted: Int, for address: IPv4Address, now: UInt64) -> Int {
        let index = bucketIndex(for: address, now: now)
        let elapsed = now >= buckets[index].lastRefill ? min(now - buckets[index].lastRefill, fullRefillNanoseconds) : 0
        buckets[index].nanoTokens = min(burstNanoTokens, buckets[index].nanoTokens + elapsed * packetsPerSecond)
        buckets[index].lastRefill = max(now, buckets[index].lastRefill)
        let granted = min(UInt64(wanted), buckets[index].nanoTokens / Self.nano)
        buckets[index].nanoTokens -= granted * Self.nano
        return Int(granted)
    }

    private mutating func bucketIndex(for address: IPv4Address, now: UInt64) -> Int {
        if let index = buckets.firstIndex(where: { $0.address == address }) { return index }
        let fresh = Bucket(address: address, nanoTokens: burstNanoTokens, lastRefill: now)
        if buckets.count < capacity {
            buckets.append(fresh)
            return buckets.count - 1
        }
        var stalest = 0
        for index in buckets.indices where buckets[index].lastRefill < buckets[stalest].lastRefill { stalest = index }
        buckets[stalest] = fresh
        return stalest
    }
}

/// A fixed log2-bucket latency histogram inside a `CounterBlock`: bucket `i` counts values in
/// (2^(6+i), 2^(7+i)] ns, from ≤ 128 ns up to ≤ 2^27 ns (134 ms), plus one overflow bucket, and
/// the sum in nanoseconds. Recording is a leading-zero count, a clamp and two load+store
/// pairs on slots the recording thread owns: no allocation, no lock, no read-modify-write.
public struct LatencyHistogramSlots: Hashable, Sendable {
    /// Finite buckets; their upper bounds are `upperBoundNanoseconds(i)`.
    @inlinable public static var finiteBucketCount: Int { 21 }
    /// log2 of the first bucket's upper bound.
    @inlinable static var smallestBoundShift: Int { 7 }
    /// Finite buckets, the overflow bucket, the sum.
    static var slotCount: Int { finiteBucketCount + 2 }

    @usableFromInline let first: Int

    public static func upperBoundNanoseconds(_ bucket: Int) -> UInt64 {
        1 << UInt64(smallestBoundShift + bucket)
    }

    /// Bucket of `nanoseconds`: `finiteBucketCount` is the overflow bucket.
    @inlinable
    public static func bucket(_ nanoseconds: UInt64) -> Int {
        // ceil(log2(n)), at least 7: the exponent of the smallest power of two ≥ n.
        let smallestBound = UInt64(1) << UInt64(smallestBoundShift) - 1
        let exponent = UInt64.bitWidth - ((max(nanoseconds, 1) &- 1) | smallestBound).leadingZeroBitCount
        return min(exponent &- smallestBoundShift, finiteBucketCount)
    }

    func bucketSlot(_ bucket: Int) -> CounterSlot { CounterSlot(index: first + bucket) }
    var sumSlot: CounterSlot { CounterSlot(index: first + Self.finiteBucketCount + 1) }

    /// Counts one value (call it from the one thread that records into this histogram).
    @inlinable
    public func record(nanoseconds: UInt64, to writer: CounterWriter) {
        writer.add(1, CounterSlot(index: first &+ Self.bucket(nanoseconds)))
        writer.add(nanoseconds, CounterSlot(index: first &+ Self.finiteBucketCount &+ 1))
    }
}

/// What the exporter reads of a histogram: non-cumulative bucket counts and the sum.
public struct LatencyHistogramSnapshot: Equatable, Sendable {
    /// `finiteBucketCount + 1` counts, the last one the overflow bucket.
    public var buckets: [UInt64]
    public var sumNanoseconds: UInt64

    public var count: UInt64 { buckets.reduce(0, &+) }
}

extension CounterBlock {
    public func snapshot(_ histogram: LatencyHistogramSlots) -> LatencyHistogramSnapshot {
        LatencyHistogramSnapshot(
            buckets: (0...LatencyHistogramSlots.finiteBucketCount).map { load(histogram.bucketSlot($0)) },
            sumNanoseconds: load(histogram.sumSlot))
    }
}

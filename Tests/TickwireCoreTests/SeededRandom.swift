import Foundation
import Testing

/// SplitMix64 (Steele, Lea & Flood, 2014): a small deterministic generator for property
/// tests. The same seed gives the same sequence on every run and platform, so a failing
/// seed reproduces exactly. Works with the standard library's `random(in:using:)`.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension RandomNumberGenerator {
    /// True with the given probability (0...1).
    mutating func chance(_ probability: Double) -> Bool {
        Double.random(in: 0..<1, using: &self) < probability
    }
}

/// Seeds for parameterized property tests (`@Test(arguments: PropertySeeds.list(8))`):
/// Swift Testing names the failing argument, so a failure shows its seed. Set
/// TICKWIRE_SEED=<n> to rerun just that seed.
enum PropertySeeds {
    static func list(_ count: Int) -> [UInt64] {
        if let pinned = ProcessInfo.processInfo.environment["TICKWIRE_SEED"].flatMap(UInt64.init) {
            return [pinned]
        }
        var generator = SplitMix64(seed: 0x5EED_71C4_11E5)
        return (0..<count).map { _ in generator.next() }
    }
}

@Suite struct SeededRandomTests {
    @Test func splitMix64MatchesThePublishedSequenceForSeedZero() {
        var generator = SplitMix64(seed: 0)
        #expect([generator.next(), generator.next(), generator.next()]
            == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
    }
}

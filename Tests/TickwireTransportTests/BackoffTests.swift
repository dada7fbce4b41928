import Testing
import TickwireTransport

/// SplitMix64: a tiny seeded generator so backoff sequences are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct BackoffTests {
    @Test func ceilingsDoubleUpToTheCap() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        let ceilings = (0..<10).map { backoff.ceiling(forAttempt: $0) }
        #expect(ceilings == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
                             .milliseconds(3200), .seconds(5), .seconds(5), .seconds(5), .seconds(5)])
        #expect(backoff.ceiling(forAttempt: 200) == .seconds(5))
    }

    @Test func fullJitterStaysWithinBoundsAndIsDeterministicPerSeed() {
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(2))
        var random = SeededGenerator(state: 42)
        var delays: [Duration] = []
        for attempt in 0..<40 {
            let delay = backoff.nextDelay(using: &random)
            #expect(delay >= .zero && delay <= backoff.ceiling(forAttempt: attempt))
            delays.append(delay)
        }
        var again = Backoff(initial: .milliseconds(50), maximum: .seconds(2))
        var sameSeed = SeededGenerator(state: 42)
        #expect((0..<40).map { _ in again.nextDelay(using: &sameSeed) } == delays)
        #expect(Set(delays).count > 30)  // jittered, not constant
        #expect(delays.suffix(20).contains { $0 > .seconds(1) })  // capped at 2 s, not stuck low
    }

    @Test func aStableConnectionResetsTheSequence() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(30), stableAfter: .seconds(60))
        var random = SeededGenerator(state: 7)
        for _ in 0..<5 { _ = backoff.nextDelay(using: &random) }
        backoff.connectionEnded(after: .seconds(10))
        #expect(backoff.attempt == 5)
        backoff.connectionEnded(after: .seconds(61))
        #expect(backoff.attempt == 0)
        #expect(backoff.nextDelay(using: &random) <= .milliseconds(100))
    }
}

@Suite struct EndpointTests {
    @Test func parsesSchemesHostsPortsAndTargets() throws {
        let binance = try Endpoint(url: "wss://stream.binance.com:9443/stream?streams=btcusdt@depth")
        #expect(binance.scheme == .wss && binance.host == "stream.binance.com" && binance.port == 9443)
        #expect(binance.target == "/stream?streams=btcusdt@depth" && binance.hostHeader == "stream.binance.com:9443")
        let rest = try Endpoint(url: "https://api.binance.com")
        #expect(rest.port == 443 && rest.target == "/" && rest.hostHeader == "api.binance.com")
        let v6 = try Endpoint(url: "ws://[::1]:8080?x=1")
        #expect(v6.host == "::1" && v6.port == 8080 && v6.target == "/?x=1" && v6.hostHeader == "[::1]:8080")
        for bad in ["ftp://x", "ws://", "ws://host:0/", "ws://host:99999", "wss//x", "ws://[::1/"] {
            #expect(throws: TransportError.invalidURL(bad)) { try Endpoint(url: bad) }
        }
    }
}

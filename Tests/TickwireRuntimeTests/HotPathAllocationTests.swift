import Foundation
import Testing
@testable import TickwireRuntime
import TickwireTestSupport

/// The hot path (socket → WebSocket → JSON → book → jsonl line) must not allocate. Counted from
/// outside: `tickwire watch` runs under an LD_PRELOAD malloc counter, once with few and once with
/// many book deltas; the difference in allocations must not grow with the message count.
@Suite(.serialized) struct HotPathAllocationTests {
    /// Runs `watch --once` over a snapshot and `deltas` deltas; returns (malloc calls, lines).
    static func mallocs(deltas: Int, interposer: String, binary: URL) throws -> (calls: Int, lines: Int) {
        let server = try VenueServer { server, event in
            guard case .text(let client, let text) = event, text.contains(#""op":"subscribe""#) else { return }
            let levels = (0..<40).map { ("\(65000 - $0).50", "1.25\($0 % 10)") }
            let asks = (0..<40).map { ("\(65001 + $0).50", "0.75\($0 % 10)") }
            server.send(BybitFrames.book("snapshot", u: 1, bids: levels, asks: asks), to: client)
            for index in 0..<deltas {
                let u = UInt64(index + 2)
                let level = index % 40
                server.send(BybitFrames.book("delta", u: u, bids: [("\(65000 - level).50", index % 3 == 0 ? "0" : "2.\(index % 1000)")],
                                             asks: [("\(65001 + level).50", "0.\(index % 997 + 1)")]), to: client)
            }
            server.close(client)
        }
        let directory = temporaryDirectory()
        try writeFile(directory + "/bybit.toml", bybitConfig(port: server.port))
        setenv("LD_PRELOAD", interposer, 1)
        defer { unsetenv("LD_PRELOAD") }
        let watch = try RunningTickwire(binary: binary, ["watch", "--config", directory + "/bybit.toml", "--once", "--idle-sleep-us", "20"])
        unsetenv("LD_PRELOAD")
        #expect(try watch.waitForExit(timeout: .seconds(60)) == 0)
        let calls = try #require(MallocCounter.calls(inStandardError: watch.standardError), "\(watch.standardError)")
        return (calls, watch.lines.count)
    }

    /// The optimized build next to this (debug) test bundle, if one was built
    /// (`swift build -c release --product tickwire` with the same scratch path). Debug builds
    /// allocate in unspecialized generic code (e.g. the venue adapters' emit into a generic
    /// sink), so the zero-allocation promise is checked on the build that ships.
    static var releaseBinary: URL? {
        let candidate = productsDirectory.deletingLastPathComponent().appendingPathComponent("release/tickwire")
        return FileManager.default.isExecutableFile(atPath: candidate.path) ? candidate : nil
    }

    @Test(.enabled(if: releaseBinary != nil, "no release build of tickwire next to the test bundle: run `swift build -c release --product tickwire` first"))
    func releaseWatchDoesNotAllocatePerMessage() throws {
        let binary = try #require(Self.releaseBinary)
        let interposer = try MallocCounter.build()
        let few = try Self.mallocs(deltas: 200, interposer: interposer, binary: binary)
        let many = try Self.mallocs(deltas: 5200, interposer: interposer, binary: binary)
        #expect(few.lines == 1 + 200 + 1)   // snapshot, deltas, disconnected
        #expect(many.lines == 1 + 5200 + 1)
        // 5000 more messages (each parsed, applied, printed as a 40-level line) cost no more than
        // noise (start-up and reads are the same): far below one allocation per message.
        let extra = many.calls - few.calls
        #expect(extra < 100, "\(few.calls) malloc calls for 200 deltas, \(many.calls) for 5200")
    }
}

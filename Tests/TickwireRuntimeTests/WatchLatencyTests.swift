import Foundation
import Testing
@testable import TickwireRuntime

/// For the record (no threshold: a shared 2-vCPU VM): `emit_ns - recv_ns` of the release
/// `tickwire watch` (busy-polling) on paced Bybit deltas, one every millisecond, 10-level lines.
@Suite(.serialized) struct WatchLatencyTests {
    @Test(.enabled(if: HotPathAllocationTests.releaseBinary != nil, "no release build of tickwire next to the test bundle"))
    func releaseWatchEmitMinusReceiveOnPacedDeltas() throws {
        let binary = try #require(HotPathAllocationTests.releaseBinary)
        final class Pace: @unchecked Sendable { var client: Int?; var sent = 0; var last = ContinuousClock.now }
        let pace = Pace()
        let total = 1000
        let server = try VenueServer(tick: { server in
            guard let client = pace.client, ContinuousClock.now - pace.last >= .milliseconds(1) else { return }
            pace.last = .now
            if pace.sent == total { server.close(client); pace.sent += 1; return }
            guard pace.sent < total else { return }
            pace.sent += 1
            let level = pace.sent % 20
            server.send(BybitFrames.book("delta", u: UInt64(pace.sent + 1), bids: [("\(65000 - level).50", "1.\(pace.sent % 100)")], asks: []), to: client)
        }, script: { server, event in
            guard case .text(let client, let text) = event, text.contains(#""op":"subscribe""#) else { return }
            let bids = (0..<20).map { ("\(65000 - $0).50", "1.0") }
            let asks = (0..<20).map { ("\(65001 + $0).50", "1.0") }
            server.send(BybitFrames.book("snapshot", u: 1, bids: bids, asks: asks), to: client)
            pace.client = client
        })
        let directory = temporaryDirectory()
        try writeFile(directory + "/bybit.toml", bybitConfig(port: server.port))
        let watch = try RunningTickwire(binary: binary, ["watch", "--config", directory + "/bybit.toml", "--once"])
        #expect(try watch.waitForExit(timeout: .seconds(60)) == 0)
        let lines = try watch.lines.map(BookLine.init).filter(\.valid)
        #expect(lines.count == total + 1)
        let latencies = lines.map { $0.emitNanoseconds - $0.receiveNanoseconds }.sorted()
        #expect(latencies.allSatisfy { $0 < 1_000_000_000 })
        print("RESULT watch_emit_minus_recv_median \(latencies[latencies.count / 2]) ns")
        print("RESULT watch_emit_minus_recv_p99 \(latencies[latencies.count * 99 / 100]) ns")
        print("watch receive timestamps: \(watch.standardError.split(separator: "\n").last ?? "")")
    }
}

import Foundation
import Testing
import TickwireRuntime

/// `tickwire run` with two venues on one channel, in each topology, through loopback
/// multicast into `tickwire listen`: every book update the listener prints must be exactly
/// the one `tickwire watch` prints for the same deterministic simulator run — the pipeline
/// adds threads and rings, never a different book.
@Suite(.serialized) struct RunPipelineTests {
    typealias Venue = GeneratedVenue

    static let venues = [Venue.bybit, .kraken]
    static let messages = 2000
    static let levels = 5

    /// The books `watch` prints for each venue, one simulator run each.
    static func watchedBooks() throws -> [String: [BookLine]] {
        var books: [String: [BookLine]] = [:]
        for venue in venues {
            let (simulator, url) = try venue.startSimulator(messages: messages)
            let watch = try RunningTickwire(["watch", "--config", try venue.config(url: url, in: temporaryDirectory()),
                                             "--depth", "\(levels)", "--once", "--idle-sleep-us", "50"])
            #expect(try watch.waitForExit(timeout: .seconds(120)) == 0, "\(watch.standardError)")
            #expect(try simulator.waitForExit(timeout: .seconds(30)) == 0, "\(simulator.standardError)")
            books[venue.name] = try watch.lines.map(BookLine.init)
        }
        return books
    }

    @Test(arguments: Topology.allCases)
    func bothVenuesPublishedOnOneChannelEqualWhatWatchPrints(_ topology: Topology) throws {
        let watched = try Self.watchedBooks()
        let directory = temporaryDirectory()
        var configs: [String] = []
        var simulators: [RunningTickwire] = []
        for venue in Self.venues {
            let (simulator, url) = try venue.startSimulator(messages: Self.messages)
            simulators.append(simulator)
            configs.append(try venue.config(url: url, in: directory))
        }
        let group = topology == .staged ? "239.66.0.1:31101" : "239.66.0.2:31102"
        let listen = try RunningTickwire(["listen", "--channel", group, "--iface", "lo", "--depth", "\(Self.levels)",
                                          "--exit-on-end", "--idle-sleep-us", "50"])
        usleep(200_000)  // joined before the first packet
        let run = try RunningTickwire(["run"] + configs.flatMap { ["--venue", $0] } + [
            "--channel", group, "--iface", "lo", "--multicast-loop", "--once", "--topology", topology.rawValue, "--idle", "spin-yield:1000"])
        #expect(try run.waitForExit(timeout: .seconds(120)) == 0, "\(run.standardError)")
        #expect(try listen.waitForExit(timeout: .seconds(30)) == 0, "\(listen.standardError)")
        for simulator in simulators { #expect(try simulator.waitForExit(timeout: .seconds(30)) == 0) }
        #expect(run.standardError.contains("topology \(topology.rawValue)"), "\(run.standardError)")
        #expect(listen.standardError.contains("gaps 0"), "\(listen.standardError)")
        // Every published update's latency is counted from both starts: the kernel's stamp and the read.
        let counts = ["venue frame received->packet sent", "read returned->packet sent"].map { leg in
            run.standardError.firstRange(of: leg + " µs (n=").map { run.standardError[$0.upperBound...].prefix { $0.isNumber } }.flatMap { Int($0) }
        }
        #expect(counts[0] != nil && counts[0]! > 0 && counts[0] == counts[1], "latency counts \(counts): \(run.standardError)")

        let printed = try listen.lines.map(BookLine.init)
        for venue in Self.venues {
            let want = try #require(watched[venue.name])
            let got = printed.filter { $0.venue == venue.name }
            #expect(want.count > Self.messages / 2, "watch printed \(want.count) books for \(venue.name)")
            // The closing "disconnected" line depends on which venue closed first; compare the
            // updates. Kraken's update id is the message's timestamp, which differs between
            // two simulator runs; its books are compared without it.
            let updates = { (lines: [BookLine]) in
                lines.filter(\.valid).map { [$0.symbol, venue.hasTimestampIds ? "" : "\($0.updateId)", "\($0.bids)", "\($0.asks)"] }
            }
            let (published, watchedUpdates) = (updates(got), updates(want))
            #expect(published.count == watchedUpdates.count, "\(venue.name): \(published.count) updates published, \(watchedUpdates.count) watched")
            let firstDifference = published.indices.first { $0 < watchedUpdates.count && published[$0] != watchedUpdates[$0] }
            #expect(firstDifference == nil, "\(venue.name): update #\(firstDifference ?? 0) differs: \(firstDifference.map { "\(published[$0]) vs \(watchedUpdates[$0])" } ?? "")")
            #expect(got.last.map { !$0.valid } == true, "\(venue.name) ends invalid (its connection closed)")
        }
        print("run \(topology): \(printed.count) books published for \(Self.venues.map(\.name)) equal to watch's")
    }
}

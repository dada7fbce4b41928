import Foundation
import Testing

/// `--latency-histogram FILE` of `run` and `listen` (what scripts/bench-e2e.sh keeps for the CDF
/// plots): at exit each writes every latency histogram it printed percentiles of, whole, one
/// row per bucket, the last row of each histogram counting every sample the summary counted.
@Suite(.serialized) struct LatencyHistogramFileTests {
    /// Rows of one histogram in a file: (value ns, count, cumulative count, fraction).
    typealias Row = (value: UInt64, count: UInt64, cumulative: UInt64, fraction: Double)

    static func histograms(_ path: String) throws -> [String: [Row]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("# tickwire latency histograms: histogram value_ns count cumulative_count fraction\n"), "\(text.prefix(200))")
        var histograms: [String: [Row]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ")
            try #require(fields.count == 5, "row '\(line)'")
            histograms[String(fields[0]), default: []].append(
                (try #require(UInt64(fields[1])), try #require(UInt64(fields[2])), try #require(UInt64(fields[3])), try #require(Double(fields[4]))))
        }
        return histograms
    }

    /// The `n=` of `leg µs (n=N)` in a summary line.
    static func summaryCount(_ text: String, _ leg: String) -> UInt64? {
        text.firstRange(of: leg + " µs (n=").flatMap { UInt64(text[$0.upperBound...].prefix { $0.isNumber }) }
    }

    @Test func runAndListenWriteEveryHistogramTheySummarizeOneRowPerBucket() throws {
        let directory = temporaryDirectory()
        let (simulator, url) = try GeneratedVenue.bybit.startSimulator(messages: 500)
        let venueFile = try GeneratedVenue.bybit.config(url: url, in: directory)
        let group = "239.66.0.9:31109"
        let listenFile = directory + "/listen.latency", runFile = directory + "/run.latency"
        let listen = try RunningTickwire(["listen", "--channel", group, "--iface", "lo", "--format", "stats", "--exit-on-end",
                                          "--idle-sleep-us", "50", "--latency-histogram", listenFile])
        usleep(200_000)  // joined before the first packet
        let run = try RunningTickwire(["run", "--venue", venueFile, "--channel", group, "--iface", "lo", "--multicast-loop", "--once",
                                       "--topology", "fused", "--idle", "spin-yield:1000", "--latency-histogram", runFile])
        #expect(try run.waitForExit(timeout: .seconds(120)) == 0, "\(run.standardError)")
        #expect(try listen.waitForExit(timeout: .seconds(30)) == 0, "\(listen.standardError)")
        #expect(try simulator.waitForExit(timeout: .seconds(30)) == 0)

        let legs = [
            (runFile, run.standardError, "frame_received_to_packet_sent", "venue frame received->packet sent"),
            (runFile, run.standardError, "read_returned_to_packet_sent", "read returned->packet sent"),
            (listenFile, listen.standardError, "packet_sent_to_received", "latency send->receive"),
            (listenFile, listen.standardError, "frame_received_to_packet_sent", "venue frame received->packet sent"),
            (listenFile, listen.standardError, "frame_received_to_book_rebuilt", "venue frame received->book rebuilt"),
        ]
        for (file, summary, name, leg) in legs {
            let rows = try #require(try Self.histograms(file)[name], "\(name) in \(file)")
            let printed = try #require(Self.summaryCount(summary, leg), "\(leg) in \(summary)")
            #expect(printed > 0)
            // Rows rise in value, each adds its count, and the last one holds every sample the summary counted.
            #expect(zip(rows, rows.dropFirst()).allSatisfy { $0.value < $1.value && $0.cumulative + $1.count == $1.cumulative }, "\(name)")
            #expect(rows.first.map { $0.count == $0.cumulative } == true, "\(name)")
            #expect(rows.last?.cumulative == printed, "\(name): \(rows.last.map { "\($0)" } ?? "no rows"), summary n=\(printed)")
            #expect(rows.last?.fraction == 1.0, "\(name)")
        }
    }
}

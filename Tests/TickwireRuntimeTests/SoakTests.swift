import Foundation
import Testing
import TickwireTestSupport

/// Issue 6's soak: generated markets on four venues at 50k book messages/s in all, through
/// `tickwire run` into `tickwire listen`, for `TICKWIRE_SOAK_SECONDS` (default 120, CI's size;
/// 600 for the long run). `run`'s resident set must not grow by 1 % after warm-up, nothing may
/// crash, and at the end every book is valid and equal to the simulator's true book. Every
/// process is the release build (CI builds it first): a debug `run` does not keep up with 50k
/// messages/s on two shared vCPUs, and the memory that matters is the one users run.
@Suite(.serialized) struct SoakTests {
    static var seconds: Int { Int(ProcessInfo.processInfo.environment["TICKWIRE_SOAK_SECONDS"] ?? "") ?? 120 }
    static let venues = [GeneratedVenue.bybit, .okx, .kraken, .coinbase]
    static let messagesPerSecond = 50_000
    static let levels = 5

    /// VmRSS of `pid` in kB (nil once it is gone).
    static func residentKilobytes(_ pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    @Test(.enabled(if: HotPathAllocationTests.releaseBinary != nil, "no release build of tickwire next to the test bundle: run `swift build -c release --product tickwire` first"))
    func fourVenuesAt50kMessagesPerSecondKeepRunsMemoryFlatAndEndEqualToTheTruth() throws {
        let binary = try #require(HotPathAllocationTests.releaseBinary)
        let seconds = Self.seconds
        let perVenue = Self.messagesPerSecond / Self.venues.count
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var simulators: [RunningTickwire] = []
        defer { for simulator in simulators where simulator.process.isRunning { kill(simulator.process.processIdentifier, SIGKILL) } }
        var configs: [String] = []
        for venue in Self.venues {
            let (simulator, url) = try venue.startSimulator(messages: perVenue * seconds, rate: perVenue,
                                                            arguments: ["--truth-out", directory + "/\(venue.name).truth"], binary: binary)
            simulators.append(simulator)
            configs.append(try venue.config(url: url, in: directory))
        }
        // listen's books go to a file (50k lines/s would not fit in the test's memory).
        let output = directory + "/listen.jsonl"
        let daemon = try LoopbackDaemon(venueFiles: configs, levels: Self.levels, listenOutputFile: output, binary: binary)
        let run = daemon.run.process.processIdentifier

        // One sample a second while every simulator sends; warm-up is the first quarter (at least 10 s).
        let warmUp = max(10, seconds / 4)
        let started = ContinuousClock.now
        var samples: [(second: Int, kilobytes: Int)] = []
        while simulators.allSatisfy(\.process.isRunning) && ContinuousClock.now - started < .seconds(seconds + 120) {
            sleep(1)
            guard let kilobytes = Self.residentKilobytes(run) else { break }
            samples.append((Int((ContinuousClock.now - started).components.seconds), kilobytes))
        }
        for simulator in simulators { #expect(try simulator.waitForExit(timeout: .seconds(120)) == 0, "\(simulator.standardError)") }
        #expect(daemon.run.process.isRunning, "run is alive at the end: \(daemon.run.standardError)")
        let closing = "\"valid\":false,\"reason\":\"disconnected\""
        _ = waitUntil(seconds: 60) {
            Self.venues.allSatisfy { venue in (try? Self.lastLines(of: venue, in: output).first?.contains(closing)) == true }
        }
        try daemon.stop()

        let atWarmUp = try #require(samples.first { $0.second >= warmUp }, "sampled past warm-up: \(samples.count) samples")
        let atEnd = try #require(samples.last)
        let growth = Double(atEnd.kilobytes - atWarmUp.kilobytes) * 100 / Double(atWarmUp.kilobytes)
        #expect(growth < 1, "run's RSS grew \(growth) % from \(atWarmUp) to \(atEnd); samples \(samples)")

        var equal = 0
        for venue in Self.venues {
            let truth = try #require(try TruthBook.read(directory + "/\(venue.name).truth").first)
            let last = try Self.lastLines(of: venue, in: output).map(BookLine.init)
            #expect(last.count == 2 && last[0].reason == "disconnected", "\(venue): ends with the closed connection: \(last)")
            let book = try #require(last.last)
            let matches = book.valid && book.bids == Array(truth.bids.prefix(Self.levels)) && book.asks == Array(truth.asks.prefix(Self.levels))
            #expect(matches, "\(venue): the last book \(book) equals the truth \(truth.bids.prefix(Self.levels)) / \(truth.asks.prefix(Self.levels))")
            if matches { equal += 1 }
        }
        // Besides the closing lines, a book may only have gone invalid for packets the listener
        // gave up (on two shared vCPUs it can be descheduled long enough for its socket buffer
        // to overflow), each then rebuilt from the snapshot channel; it ended equal to the truth.
        func count(_ pattern: String) throws -> Int {
            Int(try runCommand(["sh", "-c", "grep -c -F '\(pattern)' '\(output)' || true"]).filter(\.isNumber)) ?? -1
        }
        let invalid = try count("\"valid\":false"), givenUp = try count("\"reason\":\"sequenceGap\"")
        #expect(invalid == Self.venues.count + givenUp, "invalid lines: \(invalid), of them for given-up packets \(givenUp)")
        #expect(givenUp <= daemon.listenCounter("books recovered from snapshots"), "\(daemon.listenSummary)")
        let lines = try runCommand(["sh", "-c", "wc -l < '\(output)'"]).filter(\.isNumber)
        let sent = simulators.compactMap { simulator in
            simulator.standardError.firstMatch(of: try! Regex("([0-9]+) book messages")).flatMap { Int($0.output[1].substring ?? "") }
        }.reduce(0, +)
        print("soak \(seconds) s, \(Self.venues.map(\.name)) at \(Self.messagesPerSecond) msg/s: \(sent) book messages sent, \(lines) books printed; "
              + "run RSS \(atWarmUp.kilobytes) kB at \(atWarmUp.second) s (warm-up), \(atEnd.kilobytes) kB at \(atEnd.second) s, "
              + "growth \(String(format: "%.3f", growth)) %, max \(samples.map(\.kilobytes).max() ?? 0) kB; books equal to the truth \(equal)/\(Self.venues.count), "
              + "invalid for given-up packets \(givenUp) times; "
              + daemon.listenSummary)
    }

    /// The venue's last two lines in listen's output, newest first (`tac | grep -m 2`: the file is large).
    static func lastLines(of venue: GeneratedVenue, in file: String) throws -> [String] {
        try runCommand(["sh", "-c", "tac '\(file)' | grep -m 2 -F '{\"venue\":\"\(venue.name)\"'"])
            .split(separator: "\n").map { String($0) + "\n" }
    }
}

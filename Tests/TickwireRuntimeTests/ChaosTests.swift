import Foundation
import Testing
import TickwireTestSupport

/// Issue 6's chaos cases that need the whole daemon: the built-in exchange misbehaving toward
/// `tickwire run` as a venue would, or `run` itself stopped or killed, while `tickwire listen`
/// rebuilds the books from the channel. Each asserts that the book is invalid from the first
/// bad message until a resync, never published wrong (every valid book the listener prints is
/// the truth at its update id, from a fault-free `watch` of the same seeded market), then equal
/// to the truth the simulator writes at its end. The cases covered closer to their code are
/// listed in docs/BENCHMARKS.md ("Soak and chaos").
@Suite(.serialized) struct ChaosTests {
    static let venue = GeneratedVenue.bybit
    static let messages = 2000
    static let rate = 4000
    static let levels = 5

    struct VenueFault: CustomTestStringConvertible, Sendable {
        var name: String
        var simulatorArguments: [String]
        /// Why the book may go invalid (the first must be seen).
        var reasons: [String]
        var minimumInvalidSpells = 1
        var tls = false
        var venueFileLines = ""
        var testDescription: String { name }
    }

    static let venueFaults = [
        VenueFault(name: "disconnect storm (every 100 book messages)", simulatorArguments: ["--disconnect-every", "100"],
                   reasons: ["disconnected"], minimumInvalidSpells: 5),
        VenueFault(name: "garbage JSON frames (1 %)", simulatorArguments: ["--corrupt-probability", "0.01"], reasons: ["malformedMessage"]),
        VenueFault(name: "protocol-invalid WebSocket frames (0.5 %)", simulatorArguments: ["--corrupt-probability", "0.005", "--corrupt-kind", "frame"],
                   reasons: ["disconnected"]),
        VenueFault(name: "dropped messages (1 %)", simulatorArguments: ["--drop-probability", "0.01"], reasons: ["sequenceGap"]),
        VenueFault(name: "duplicated messages (1 %)", simulatorArguments: ["--duplicate-probability", "0.01"], reasons: ["sequenceGap"]),
        VenueFault(name: "reordered messages (1 %)", simulatorArguments: ["--reorder-probability", "0.01"], reasons: ["sequenceGap"]),
        // The whole peer stops for 2 s mid-stream over wss://: the idle timeout renews the
        // connection, whose TLS handshake waits for the peer to come back.
        VenueFault(name: "stalled TLS peer (2 s)", simulatorArguments: ["--stall-nth", "600", "--stall-ms", "2000"],
                   reasons: ["disconnected", "stale"], tls: true, venueFileLines: "idle_timeout_ms = 500"),
    ]

    @Test(arguments: venueFaults)
    func aVenueFaultThroughTheDaemonInvalidatesUntilResyncNeverPublishesWrongThenEqualsTheTruth(_ fault: VenueFault) throws {
        let venue = Self.venue
        let reference = try referenceBooks(venue, messages: Self.messages, rate: Self.rate, levels: Self.levels)
        let directory = temporaryDirectory()
        let truthFile = directory + "/truth.jsonl"
        let (simulator, url) = try venue.startSimulator(
            messages: Self.messages, rate: Self.rate,
            arguments: fault.simulatorArguments + ["--truth-out", truthFile, "--linger-ms", "1000"] + (fault.tls ? ["--tls", "--ca-out", directory + "/ca.pem"] : []))
        defer { if simulator.process.isRunning { kill(simulator.process.processIdentifier, SIGKILL) } }
        let config = try venue.config(url: url, in: directory, extra: """
            reconnect_initial_ms = 20
            reconnect_max_ms = 200
            \(fault.tls ? #"tls_ca_file = "ca.pem""# : "")
            \(fault.venueFileLines)
            """)
        let daemon = try LoopbackDaemon(venueFiles: [config], levels: Self.levels)
        #expect(try simulator.waitForExit(timeout: .seconds(120)) == 0, "\(simulator.standardError)")
        // After its last message the simulator serves on for a second without faults (a run that
        // is reconnecting gets the final book), then closes: the book goes invalid on the channel.
        _ = waitUntil(seconds: 30) { (try? daemon.listen.lines.last.map(BookLine.init))??.reason == "disconnected" }
        try daemon.stop()
        let truth = try #require(try TruthBook.read(truthFile).first)
        let spells = ResyncCheck(venue: venue, levels: Self.levels, reasons: fault.reasons)
            .expect(try daemon.listen.lines.map(BookLine.init), reference: reference, truth: truth, runLog: daemon.run.standardError)
        #expect(spells >= fault.minimumInvalidSpells, "\(fault.name): the book went invalid \(spells) times")
        #expect(daemon.listenCounter("packets lost") == 0, "\(daemon.listenSummary)")
        print("chaos \(fault.name): \(daemon.listen.lines.count) lines, invalid \(spells) times, every valid book the truth, "
              + "the last equal to the simulator's")
    }

    /// A consumer that stops reading for 2 s (SIGSTOP) mid-stream: multicast never waits for
    /// it, its socket buffer holds what came meanwhile, and once it runs again it works through
    /// the backlog to the same books, none wrong, none invalid, ending on the truth.
    @Test func aConsumerStoppedMidStreamCatchesUpWithEveryBookRight() throws {
        let venue = Self.venue
        let messages = 12_000
        let reference = try referenceBooks(venue, messages: messages, rate: Self.rate, levels: Self.levels)
        let directory = temporaryDirectory()
        let truthFile = directory + "/truth.jsonl"
        let (simulator, url) = try venue.startSimulator(messages: messages, rate: Self.rate, arguments: ["--truth-out", truthFile])
        defer { if simulator.process.isRunning { kill(simulator.process.processIdentifier, SIGKILL) } }
        let daemon = try LoopbackDaemon(venueFiles: [try venue.config(url: url, in: directory)], levels: Self.levels)
        #expect(waitUntil(seconds: 60) { daemon.listen.lines.count >= 1000 }, "\(daemon.run.standardError)")
        kill(daemon.listen.process.processIdentifier, SIGSTOP)
        sleep(2)
        let linesWhileStopped = daemon.listen.lines.count
        kill(daemon.listen.process.processIdentifier, SIGCONT)
        #expect(try simulator.waitForExit(timeout: .seconds(120)) == 0, "\(simulator.standardError)")
        _ = waitUntil(seconds: 30) { (try? daemon.listen.lines.last.map(BookLine.init))??.reason == "disconnected" }
        try daemon.stop()
        let printed = try daemon.listen.lines.map(BookLine.init)
        #expect(printed.count > linesWhileStopped + 1000, "it read on after the stop")
        let truth = try #require(try TruthBook.read(truthFile).first)
        ResyncCheck(venue: venue, levels: Self.levels, reasons: []).expect(printed, reference: reference, truth: truth)
        print("chaos consumer stopped 2 s: \(printed.count) lines; \(daemon.listenSummary)")
    }

    /// SIGTERM while the venue streams as fast as it can: `run` stops ingest, drains, flushes
    /// and sends end of session; the listener gets every packet up to it (no gap, nothing lost
    /// or malformed: no half-sent packet or message) and exits at the end of session.
    @Test func sigtermMidBurstEndsTheSessionCleanlyWithNothingHalfSent() throws {
        let venue = Self.venue
        let messages = 40_000, rate = 20_000
        let reference = try referenceBooks(venue, messages: messages, rate: rate, levels: Self.levels)
        let directory = temporaryDirectory()
        let (simulator, url) = try venue.startSimulator(messages: messages, rate: rate)
        defer { if simulator.process.isRunning { kill(simulator.process.processIdentifier, SIGKILL) } }
        let daemon = try LoopbackDaemon(venueFiles: [try venue.config(url: url, in: directory)], levels: Self.levels)
        #expect(waitUntil(seconds: 60) { daemon.listen.lines.count >= 3000 }, "\(daemon.run.standardError)")
        #expect(simulator.process.isRunning, "still mid-burst")
        try daemon.stop()
        for counter in ["gaps", "packets lost", "malformed"] {
            #expect(daemon.listenCounter(counter) == 0, "\(counter): \(daemon.listenSummary)")
        }
        #expect(daemon.listenCounter("sessions ended") == 1, "\(daemon.listenSummary)")
        let printed = try daemon.listen.lines.map(BookLine.init)
        let wrong = printed.filter { $0.valid && (reference[$0.updateId]?.bids != $0.bids || reference[$0.updateId]?.asks != $0.asks) }
        #expect(wrong.isEmpty, "published wrong: \(wrong.prefix(3))")
        #expect(printed.filter { !$0.valid }.isEmpty, "no book went invalid before the end of session: \(printed.filter { !$0.valid }.prefix(3))")
        print("chaos SIGTERM mid-burst: \(printed.count) books then end of session; \(daemon.listenSummary)")
    }

    /// SIGKILL (no end of session), then the same `run` started again, as systemd's
    /// Restart=on-failure does: a new session id; the listener drops the old session's books
    /// and rebuilds them from the new one, never printing a wrong book, and ends on the truth.
    @Test func sigkillThenRestartStartsANewSessionAndTheConsumerResyncs() throws {
        let venue = Self.venue
        let messages = 12_000
        let reference = try referenceBooks(venue, messages: messages, rate: Self.rate, levels: Self.levels)
        let directory = temporaryDirectory()
        let truthFile = directory + "/truth.jsonl"
        let (simulator, url) = try venue.startSimulator(messages: messages, rate: Self.rate, arguments: ["--truth-out", truthFile, "--linger-ms", "1000"])
        defer { if simulator.process.isRunning { kill(simulator.process.processIdentifier, SIGKILL) } }
        let config = try venue.config(url: url, in: directory, extra: "reconnect_initial_ms = 20\nreconnect_max_ms = 200")
        let daemon = try LoopbackDaemon(venueFiles: [config], levels: Self.levels)
        #expect(waitUntil(seconds: 60) { daemon.listen.lines.count >= 1000 }, "\(daemon.run.standardError)")
        kill(daemon.run.process.processIdentifier, SIGKILL)
        _ = try daemon.run.waitForExit(timeout: .seconds(30))
        #expect(daemon.run.process.terminationReason == .uncaughtSignal)
        let linesBeforeRestart = daemon.listen.lines.count
        try daemon.restartRun()
        #expect(try simulator.waitForExit(timeout: .seconds(120)) == 0, "\(simulator.standardError)")
        _ = waitUntil(seconds: 30) { (try? daemon.listen.lines.last.map(BookLine.init))??.reason == "disconnected" }
        try daemon.stop()

        let sessions = daemon.listen.standardError.matches(of: try Regex("sessionStarted\\(session: ([0-9]+)")).map { String($0.output[1].substring ?? "") }
        #expect(sessions.count == 2 && Set(sessions).count == 2, "a new session id after the restart: \(sessions)")
        let printed = try daemon.listen.lines.map(BookLine.init)
        #expect(printed.count > linesBeforeRestart + 1000, "the restarted run published on")
        let truth = try #require(try TruthBook.read(truthFile).first)
        ResyncCheck(venue: venue, levels: Self.levels, reasons: ["snapshotPending", "stale", "disconnected"])
            .expect(printed, reference: reference, truth: truth)
        print("chaos SIGKILL and restart: sessions \(sessions), \(printed.count) lines; \(daemon.listenSummary)")
    }
}

import Foundation
import Testing

/// One symbol's true book as `tickwire simulate --truth-out` writes it at exit.
struct TruthBook {
    var venue: String
    var symbol: String
    /// The generator's update counter (not the venue's wire id).
    var generatorUpdateId: UInt64
    var bids: [[String]]
    var asks: [[String]]

    /// Every line of a truth file.
    static func read(_ path: String) throws -> [TruthBook] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return TruthBook(venue: try #require(object["venue"] as? String), symbol: try #require(object["symbol"] as? String),
                             generatorUpdateId: try #require((object["generator_update_id"] as? NSNumber)?.uint64Value),
                             bids: try #require(object["bids"] as? [[String]]), asks: try #require(object["asks"] as? [[String]]))
        }
    }
}

/// `tickwire run` publishing venue files on a loopback multicast channel (with its snapshot
/// channel and retransmission service) and `tickwire listen` rebuilding the books from it.
/// Each harness takes its own groups and ports, so suites running at the same time never share
/// a channel. The processes are killed when the harness goes (a failed test leaves nothing).
final class LoopbackDaemon {
    let group: String
    let snapshots: String
    let retransmit: String
    let listen: RunningTickwire
    private(set) var run: RunningTickwire
    private let runArguments: [String]
    private let binary: URL

    init(venueFiles: [String], levels: Int, runArguments: [String] = [], listenOutputFile: String? = nil,
         binary: URL = productsDirectory.appendingPathComponent("tickwire")) throws {
        self.binary = binary
        let subnet = Int.random(in: 1...250), port = Int.random(in: 32_000...39_000)
        group = "239.67.\(subnet).1:\(port)"
        snapshots = "239.67.\(subnet).2:\(port + 1)"
        retransmit = "127.0.0.1:\(port + 2)"
        listen = try RunningTickwire(binary: binary, standardOutputFile: listenOutputFile, [
            "listen", "--channel", group, "--snapshot", snapshots, "--retransmit", retransmit, "--iface", "lo",
            "--depth", "\(levels)", "--exit-on-end", "--idle-sleep-us", "50"])
        usleep(200_000)  // joined before the first packet
        self.runArguments = ["run"] + venueFiles.flatMap { ["--venue", $0] } + [
            "--channel", group, "--snapshot", snapshots, "--retransmit", retransmit, "--iface", "lo", "--multicast-loop",
            "--topology", "fused", "--idle", "spin-park:100:50"] + runArguments
        run = try RunningTickwire(binary: binary, self.runArguments)
    }

    deinit {
        for process in [run.process, listen.process] where process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// A new `run` with the same arguments (after the last one was killed): a new session.
    func restartRun() throws {
        run = try RunningTickwire(binary: binary, runArguments)
    }

    /// SIGTERM to `run`: it sends end of session and exits 0, then `listen` (--exit-on-end) exits 0.
    func stop() throws {
        kill(run.process.processIdentifier, SIGTERM)
        #expect(try run.waitForExit(timeout: .seconds(60)) == 0, "run: \(run.standardError)")
        #expect(try listen.waitForExit(timeout: .seconds(30)) == 0, "listen: \(listen.standardError)")
    }

    /// listen's closing summary line.
    var listenSummary: String { listen.standardError.split(separator: "\n").last { $0.contains("listen: end:") }.map(String.init) ?? "" }

    /// A count from listen's summary (`gaps 3` → 3), -1 when absent.
    func listenCounter(_ name: String) -> Int { summaryCounter(name, in: listenSummary) }
}


/// What the chaos tests assert of one symbol's printed books: the book is invalid from the
/// first bad message until a resync, never published wrong, then equal to the truth.
struct ResyncCheck {
    var venue: GeneratedVenue
    var levels: Int
    /// Why the book may go invalid in this case (the first must be seen).
    var reasons: [String]

    /// `printed`: listen's lines for the venue, in order. `reference`: the books a fault-free run
    /// prints, by update id (nil: only the end is checked). Returns the invalid spells seen.
    @discardableResult
    func expect(_ printed: [BookLine], reference: [UInt64: BookLine]?, truth: TruthBook, ended: Bool = true, runLog: String = "") -> Int {
        var lines = printed.filter { $0.venue == venue.name && $0.symbol == venue.symbol }
        #expect(lines.count > 10, "\(venue): \(lines.count) lines")
        // The simulator closed at its end: the book goes with the connection.
        if ended, let closing = lines.last, !closing.valid, closing.reason == "disconnected" { lines.removeLast() }
        var spells = 0, wrong = 0, seenReasons: Set<String> = []
        for (index, line) in lines.enumerated() {
            guard line.valid else {
                seenReasons.insert(line.reason ?? "?")
                if index == 0 || lines[index - 1].valid { spells += 1 }
                #expect(lines[index...].contains { $0.valid }, "\(venue): resynced after \(line)")
                continue
            }
            guard let reference else { continue }
            let want = reference[line.updateId]
            if want?.bids != line.bids || want?.asks != line.asks {
                wrong += 1
                if wrong <= 3 { Issue.record("\(venue): published \(line), the truth at that update is \(want.map { "\($0)" } ?? "no book")") }
            }
        }
        #expect(wrong == 0, "\(venue): \(wrong) books published wrong")
        #expect(seenReasons.isSubset(of: Set(reasons)), "\(venue): invalid for \(seenReasons), expected only \(reasons); run: \(runLog.split(separator: "\n").filter { $0.contains("reconnecting") }.prefix(5))")
        if let first = reasons.first, spells > 0 { #expect(seenReasons.contains(first), "\(venue): \(seenReasons)") }
        let last = lines.last
        #expect(last?.valid == true, "\(venue): valid at the end, got \(last.map { "\($0)" } ?? "nothing")")
        #expect(last?.bids == Array(truth.bids.prefix(levels)) && last?.asks == Array(truth.asks.prefix(levels)),
                "\(venue): the last book \(last.map { "\($0)" } ?? "none") equals the truth \(truth.bids.prefix(levels)) / \(truth.asks.prefix(levels))")
        if let final = reference?.keys.max() { #expect(last?.updateId == final, "\(venue): at the last update \(final)") }
        return spells
    }
}

/// The books a fault-free `watch` prints for the same seeded market, by update id: the truth
/// after every update.
func referenceBooks(_ venue: GeneratedVenue, messages: Int, rate: Int, levels: Int) throws -> [UInt64: BookLine] {
    let (simulator, url) = try venue.startSimulator(messages: messages, rate: rate)
    defer { if simulator.process.isRunning { kill(simulator.process.processIdentifier, SIGKILL) } }
    let watch = try RunningTickwire(["watch", "--config", try venue.config(url: url, in: temporaryDirectory()),
                                     "--depth", "\(levels)", "--once", "--idle-sleep-us", "50"])
    #expect(try watch.waitForExit(timeout: .seconds(180)) == 0, "\(watch.standardError)")
    #expect(try simulator.waitForExit(timeout: .seconds(30)) == 0, "\(simulator.standardError)")
    var books: [UInt64: BookLine] = [:]
    for line in try watch.lines.map(BookLine.init) where line.valid { books[line.updateId] = line }
    return books
}

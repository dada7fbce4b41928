import ArgumentParser
import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// `tickwire demo`: the whole path on one machine, from nothing. Two simulated venues
/// (generated markets in Bybit's and Kraken's real wire formats over ws://), `tickwire run`
/// publishing both on one loopback multicast channel, and `tickwire listen` drawing the top
/// of every book live; at the end the listener's and the publisher's summaries, latency
/// included. Each part is a child process of this one (the same binary), so what runs is
/// exactly what a user would start by hand; the commands are printed.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulator, pipeline and listener in one go, on loopback.",
        discussion: """
            Runs for --seconds (default 20) or until Ctrl-C, then stops the publisher (which \
            sends end of session), the listener and the simulators, and prints their summaries. \
            Logs are kept in the folder it prints. Exit status: 0 when every part ran and \
            stopped cleanly, 1 otherwise, 2 for bad arguments.
            """
    )

    @Option(help: ArgumentHelp("How long to run (default 20).", valueName: "seconds"))
    var seconds: String?
    @Option(help: ArgumentHelp("Book events per second each simulated venue sends (default 2000).", valueName: "n"))
    var rate: String?

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var unrecognized: [String] = []

    struct SimulatedVenue {
        var adapter: String
        var symbol: String
        var path: String
        var priceScale: Int
        var quantityScale: Int
        var depth: Int
    }

    static let venues = [
        SimulatedVenue(adapter: "bybit-linear", symbol: "BTCUSDT", path: "/v5/public/linear", priceScale: 2, quantityScale: 3, depth: 50),
        SimulatedVenue(adapter: "kraken", symbol: "BTC/USD", path: "/v2", priceScale: 1, quantityScale: 8, depth: 10),
    ]
    static let group = "239.255.77.1:31771", snapshots = "239.255.77.2:31772", retransmit = "127.0.0.1:31773"

    func run() throws {
        rejectUnrecognized(unrecognized, fail: usageError)
        let duration = integerOption(seconds, "--seconds", in: 1...86_400, default: 20, fail: usageError)
        let eventsPerSecond = integerOption(rate, "--rate", in: 1...1_000_000, default: 2000, fail: usageError)
        installStopSignals()
        var template = Array("/tmp/tickwire-demo.XXXXXX".utf8CString)
        guard let folder = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            printError("error: tickwire demo: cannot make a folder in /tmp: \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        printError("demo: logs and configuration in \(folder)")
        var children: [ChildProcess] = []
        func fail(_ message: String) -> ExitCode {
            printError("error: tickwire demo: \(message) (logs in \(folder))")
            for child in children.reversed() { child.stop(within: 1000) }
            return ExitCode(1)
        }
        do throws(ChildProcessError) {
            var venueFiles: [String] = []
            for venue in Self.venues {
                let arguments = ["simulate", "--venue", venue.adapter, "--symbols", venue.symbol, "--price-scale", "\(venue.priceScale)",
                                 "--quantity-scale", "\(venue.quantityScale)", "--rate", "\(eventsPerSecond)"]
                printError("demo: tickwire \(arguments.joined(separator: " "))")
                let simulator = try ChildProcess(name: "simulate \(venue.adapter)", arguments, standardOutput: "\(folder)/simulate-\(venue.adapter).out",
                                                 standardError: "\(folder)/simulate-\(venue.adapter).log")
                children.append(simulator)
                guard let url = waitForListening("\(folder)/simulate-\(venue.adapter).out", child: simulator) else {
                    throw ChildProcessError(description: "the \(venue.adapter) simulator did not start")
                }
                let file = "\(folder)/\(venue.adapter).toml"
                guard writeTextFile(file, """
                    adapter = "\(venue.adapter)"
                    ws_url = "\(url)\(venue.path)"
                    symbols = ["\(venue.symbol)"]
                    depth = \(venue.depth)
                    [scales]
                    "\(venue.symbol)" = { price = \(venue.priceScale), quantity = \(venue.quantityScale) }

                    """) else { throw ChildProcessError(description: "cannot write \(file)") }
                venueFiles.append(file)
            }
            let channel = ["--channel", Self.group, "--snapshot", Self.snapshots, "--retransmit", Self.retransmit, "--iface", "lo"]
            let listenArguments = ["listen"] + channel + ["--format", "table", "--depth", "5", "--exit-on-end", "--idle-sleep-us", "50"]
            printError("demo: tickwire \(listenArguments.joined(separator: " "))")
            let listen = try ChildProcess(name: "listen", listenArguments, standardOutput: nil, standardError: "\(folder)/listen.log")
            children.append(listen)
            usleep(300_000)  // joined before the first packet
            // Parked idling: the demo shares a small machine with its simulators and listener.
            let runArguments = ["run"] + venueFiles.flatMap { ["--venue", $0] } + channel + ["--multicast-loop", "--idle", "spin-park:10000:20"]
            printError("demo: tickwire \(runArguments.joined(separator: " "))")
            let publisher = try ChildProcess(name: "run", runArguments, standardOutput: nil, standardError: "\(folder)/run.log")
            children.append(publisher)

            let deadline = ctw_monotonic_ns() + UInt64(duration) * 1_000_000_000
            while stopRequested == 0, ctw_monotonic_ns() < deadline {
                for child in children {
                    if let status = child.exitStatus(wait: false) { throw ChildProcessError(description: "tickwire \(child.name) exited early with status \(status)") }
                }
                usleep(50_000)
            }
            // In order: the publisher sends end of session, the listener ends on it, then the venues go.
            let runStatus = publisher.stop(within: 3000)
            var listenStatus: Int32?
            for _ in 0..<300 where listenStatus == nil {
                listenStatus = listen.exitStatus(wait: false)
                usleep(10_000)
            }
            if listenStatus == nil { listenStatus = listen.stop(within: 1000) }
            for simulator in children.prefix(Self.venues.count) { simulator.stop(within: 2000) }
            printToStdout("")
            for line in summaryLines("\(folder)/run.log", prefix: "run: ") + summaryLines("\(folder)/listen.log", prefix: "listen: end") {
                printToStdout(line)
            }
            guard runStatus == 0, listenStatus == 0 else {
                throw ChildProcessError(description: "run exited with \(runStatus), listen with \(listenStatus ?? -1)")
            }
            printToStdout("demo: done; every part stopped cleanly (logs in \(folder))")
        } catch {
            throw fail(error.description)
        }
    }

    private func usageError(_ message: String) -> Never {
        printError("error: tickwire demo: \(message)\nUsage: tickwire demo [--seconds N] [--rate N]\n  See 'tickwire demo --help'.")
        Glibc.exit(2)
    }

    /// The `ws://HOST:PORT` a simulator printed first, within 10 s.
    private func waitForListening(_ file: String, child: ChildProcess) -> String? {
        for _ in 0..<1000 {
            if let text = readSmallFile(file), let line = text.split(separator: "\n").first, line.hasPrefix("listening ") {
                return String(line.dropFirst("listening ".count))
            }
            if child.exitStatus(wait: false) != nil { return nil }
            usleep(10_000)
        }
        return nil
    }

    /// The lines of `file` that start with `prefix` and carry totals (the closing summaries).
    private func summaryLines(_ file: String, prefix: String) -> [String] {
        guard let text = readSmallFile(file) else { return [] }
        return text.split(separator: "\n").map(String.init).filter { line in
            line.hasPrefix(prefix) && (line.contains("messages") || line.contains("published") || line.contains("latency") || line.contains("topology"))
        }
    }
}

/// Writes `text` to a new file; false when it cannot.
func writeTextFile(_ path: String, _ text: String) -> Bool {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var text = text
    return text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }
}

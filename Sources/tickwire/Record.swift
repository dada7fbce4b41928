import ArgumentParser
import CTickwire
import TickwireRuntime

#if canImport(Glibc)
import Glibc
#endif

/// `tickwire record`: venue connections recorded raw, frame by frame, for `replay`.
struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record raw venue frames with receive timestamps.",
        discussion: """
            Connects like `run` (a venue file, or every venue of a main.toml) and keeps the books, \
            so resyncs and REST snapshot fetches happen as they would live, but publishes nothing. \
            Every WebSocket text message and REST snapshot body is written as one line \
            `<recv_ns> <frame>` (the format of the sample captures), one file series per venue \
            connection: OUT/NAME-<UTC start>-<part>.txt[.gz|.zst], NAME being the venue file's name. \
            Lines are written whole at least every 100 ms; compressed files get one gzip member or \
            zstd frame per write, so a killed recorder leaves files that zcat/zstdcat and `replay` \
            read up to the last write. Exit status: 0 at --seconds, --once (every connection \
            closed) or SIGINT/SIGTERM; 1 when a connection never came up or a file cannot be \
            written; 2 for bad arguments or configuration.
            """
    )

    @Option(help: ArgumentHelp("A venue file, or a main.toml (every venue it names).", valueName: "file"))
    var config: String?
    @Option(help: ArgumentHelp("Directory the recordings go to (created if missing).", valueName: "dir"))
    var out: String?
    @Option(help: ArgumentHelp("none (default), gzip or zstd.", valueName: "kind"))
    var compress: String?
    @Option(name: .customLong("rotate-bytes"), help: ArgumentHelp("Start a new file after this many bytes.", valueName: "n"))
    var rotateBytes: String?
    @Option(name: .customLong("rotate-seconds"), help: ArgumentHelp("Start a new file after this many seconds.", valueName: "s"))
    var rotateSeconds: String?
    @Option(help: ArgumentHelp("Stop after this many seconds.", valueName: "s"))
    var seconds: String?
    @Flag(help: "Stop when every connection has been closed by the venue instead of reconnecting.")
    var once = false
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var unrecognized: [String] = []

    func run() throws {
        rejectUnrecognized(unrecognized, fail: usageError)
        guard let path = config else { usageError("--config FILE is required") }
        guard let directory = out else { usageError("--out DIR is required") }
        guard let compression = RecordingCompression(rawValue: compress ?? "none") else {
            usageError("--compress: expected none, gzip or zstd (got '\(compress ?? "")')")
        }
        var settings = RecordingSettings(directory: directory)
        settings.compression = compression
        if rotateBytes != nil { settings.rotateBytes = integerOption(rotateBytes, "--rotate-bytes", in: UInt64(1)...UInt64.max, default: 1, fail: usageError) }
        if rotateSeconds != nil { settings.rotateSeconds = integerOption(rotateSeconds, "--rotate-seconds", in: UInt64(1)...UInt64.max, default: 1, fail: usageError) }
        let duration = seconds.map { _ in integerOption(seconds, "--seconds", in: UInt64(1)...(UInt64.max / 1_000_000_000), default: 1, fail: usageError) }
        let configs: [VenueConfig]
        do throws(ConfigError) {
            configs = try ConfigFileKind.of(path) == .main ? try MainConfig.load(path: path).channel.venues : [try VenueConfig.load(path: path)]
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        installStopSignals()
        let deadline = duration.map { ctw_monotonic_ns() + $0 * 1_000_000_000 }
        let recorded: [RecordedConnection]
        do {
            recorded = try recordVenues(configs, settings: settings, runOnce: once,
                                        shouldStop: { stopRequested != 0 || deadline.map { ctw_monotonic_ns() >= $0 } ?? false },
                                        log: { printError("record: \($0)") })
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        var status: Int32 = 0
        for connection in recorded {
            printError("record: \(connection.venue): \(connection.frames) frames, \(connection.bytesWritten) bytes in \(connection.files.count) file(s): \(connection.files.joined(separator: " "))")
            printError("record: \(connection.venue): \(counterLine(connection.counters))")
            if let failure = connection.failure {
                printError("error: record: \(connection.venue): \(failure)")
                status = 1
            }
            if connection.counters.connects == 0 { status = 1 }
        }
        if status != 0 { throw ExitCode(status) }
    }

    private func usageError(_ message: String) -> Never {
        printError("error: tickwire record: \(message)\nUsage: tickwire record --config FILE --out DIR [--compress none|gzip|zstd] [--rotate-bytes N] [--rotate-seconds S] [--seconds S | --once]\n  See 'tickwire record --help'.")
        Glibc.exit(2)
    }
}

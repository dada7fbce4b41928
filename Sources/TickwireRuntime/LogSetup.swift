import Logging
import Synchronization
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// Line format of the daemon's logs.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-11-26T00:46:14.123456Z info tickwire.run: message key=value`
    case text
    /// One JSON object per line: time, level, label, message, metadata (and source).
    case json
}

/// The `[log]` knobs of main.toml.
public struct LogSettings: Equatable, Sendable {
    public var level: Logger.Level
    public var format: LogFormat
    public var destination: LogDestination

    public init(level: Logger.Level = .info, format: LogFormat = .text, destination: LogDestination = .standardError) {
        self.level = level
        self.format = format
        self.destination = destination
    }
}

/// Logging for the daemon: one `LogWriter` behind every `Logger`, bootstrapped once.
public enum LogSetup {
    /// Opens the destination, starts the writer thread and makes every `Logger(label:)` write
    /// through it. Call once per process, before the first logger is created (swift-log's rule).
    /// Keep the writer: SIGHUP → `reopen()`, exit → `close()` (writes what is queued).
    public static func bootstrap(_ settings: LogSettings) throws(SystemError) -> LogWriter {
        let writer = try LogWriter(destination: settings.destination)
        let journal = settings.destination == .standardError && standardErrorIsJournal()
        LoggingSystem.bootstrap { label in
            LineLogHandler(label: label, writer: writer, format: settings.format, journal: journal, logLevel: settings.level)
        }
        return writer
    }

    /// Whether stderr is connected to journald (see `isJournal`).
    public static func standardErrorIsJournal() -> Bool {
        isJournal(descriptor: STDERR_FILENO, journalStream: getenv("JOURNAL_STREAM").map { String(cString: $0) })
    }

    /// systemd sets `$JOURNAL_STREAM` to the journal stream's `device:inode`; `descriptor` is
    /// the journal only if it is still that file (the service may have redirected stderr, or
    /// inherited the variable from a parent whose stderr was the journal).
    static func isJournal(descriptor: Int32, journalStream: String?) -> Bool {
        guard let parts = journalStream?.split(separator: ":"), parts.count == 2,
              let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }
}

/// A swift-log handler that formats each record as one text or JSON line and hands it to a
/// `LogWriter` (never blocking). With `journal`, lines start with the syslog priority `<N>`
/// (journald turns it into PRIORITY=) and carry no timestamp (journald adds its own).
public struct LineLogHandler: LogHandler {
    public let label: String
    public let writer: LogWriter
    public let format: LogFormat
    public let journal: Bool
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String, writer: LogWriter, format: LogFormat, journal: Bool, logLevel: Logger.Level = .info,
                metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.writer = writer
        self.format = format
        self.journal = journal
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        writer.write(line(level: event.level, message: event.message.description, metadata: merged, source: event.source))
    }

    func line(level: Logger.Level, message: String, metadata: Logger.Metadata, source: String) -> String {
        var line = journal ? "<\(Self.syslogPriority(level))>" : ""
        let time = journal ? nil : LogTime.now()
        switch format {
        case .text:
            if let time { line += time + " " }
            line += "\(level) \(label): \(message)"
            for key in metadata.keys.sorted() { line += " \(key)=\(Self.field(Self.text(metadata[key]!)))" }
        case .json:
            line += "{"
            if let time { line += "\"time\":\(JSONText.quoted(time))," }
            line += "\"level\":\(JSONText.quoted(level.rawValue)),\"label\":\(JSONText.quoted(label)),"
            line += "\"message\":\(JSONText.quoted(message)),\"source\":\(JSONText.quoted(source))"
            if !metadata.isEmpty { line += ",\"metadata\":" + JSONText.object(metadata) }
            line += "}"
        }
        return line
    }

    /// syslog(3) priorities, as journald reads them from a `<N>` prefix.
    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A text-format value as is, or JSON-quoted when it would not read back as one field.
    static func field(_ text: String) -> String {
        text.isEmpty || text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) ? JSONText.quoted(text) : text
    }

    static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): "[" + values.map(text).joined(separator: ",") + "]"
        case .dictionary(let dictionary):
            "{" + dictionary.keys.sorted().map { "\($0)=\(text(dictionary[$0]!))" }.joined(separator: ",") + "}"
        }
    }
}

/// Just enough JSON writing for log lines (no Foundation: strings, arrays and objects).
enum JSONText {
    static func quoted(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func value(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): quoted(string)
        case .stringConvertible(let convertible): quoted(convertible.description)
        case .array(let values): "[" + values.map(Self.value).joined(separator: ",") + "]"
        case .dictionary(let dictionary): object(dictionary)
        }
    }

    static func object(_ metadata: Logger.Metadata) -> String {
        "{" + metadata.keys.sorted().map { quoted($0) + ":" + value(metadata[$0]!) }.joined(separator: ",") + "}"
    }
}

/// UTC timestamps with microseconds, ISO 8601 (`2026-11-26T00:46:14.123456Z`).
enum LogTime {
    static func now() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(digits(Int(parts.tm_year) + 1900, 4))-\(digits(Int(parts.tm_mon) + 1, 2))-\(digits(Int(parts.tm_mday), 2))"
            + "T\(digits(Int(parts.tm_hour), 2)):\(digits(Int(parts.tm_min), 2)):\(digits(Int(parts.tm_sec), 2))"
            + ".\(digits(Int(now.tv_nsec) / 1000, 6))Z"
    }
}

/// SIGHUP → "reopen the logs". The handler only sets a flag (no I/O in a signal handler);
/// the daemon's control loop calls `takeRequest()` and, when true, `LogWriter.reopen()`.
public enum HangupSignal {
    private static let received = Atomic<Bool>(false)

    public static func install() {
        signal(SIGHUP) { _ in HangupSignal.received.store(true, ordering: .relaxed) }
    }

    /// True once per SIGHUP (or burst of them) since the last call.
    public static func takeRequest() -> Bool {
        received.exchange(false, ordering: .relaxed)
    }
}

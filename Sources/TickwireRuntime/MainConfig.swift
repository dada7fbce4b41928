import TickwireCore
import TickwireSystem
import TickwireTransport
import Logging
import TOMLKit

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's configuration (`tickwire run --config main.toml`): which venue files feed the
/// channel, where it is published, the threads and cores, host tuning, metrics and logs.
/// See `config/main.toml` for every key with its default.
public struct MainConfig: Sendable {
    public enum MemoryLocking: String, Sendable, CaseIterable {
        /// Fail the start when mlockall is refused.
        case required
        /// Log the refusal with its remedy and carry on.
        case bestEffort = "best-effort"
        case off
    }

    public var file: String
    public var channel: ChannelPlan
    public var pipeline: PipelinePlan
    public var sender: SenderConfiguration
    public var memoryLocking: MemoryLocking
    /// The Prometheus endpoint; nil: none.
    public var metrics: MetricsEndpoint?
    public var log: LogSettings

    static let topKeys: Set<String> = ["venues", "channel", "pipeline", "sender", "host", "metrics", "log"]
    static let channelKeys: Set<String> = ["id", "line_a", "line_b", "snapshot", "snapshot_rate", "retransmit", "max_packet_size"]
    static let pipelineKeys: Set<String> = [
        "topology", "idle", "batch", "prefetch", "ingest_cpus", "book_cpu", "send_cpu", "fused_cpu", "realtime_priority",
        "event_ring", "packet_ring",
    ]
    static let senderKeys: Set<String> = ["kind", "interface", "xdp_queue", "fallback", "multicast_loop", "send_buffer_bytes"]
    static let hostKeys: Set<String> = ["mlockall", "huge_pages"]
    static let metricsKeys: Set<String> = ["listen"]
    static let logKeys: Set<String> = ["level", "format", "destination"]

    /// Reads and validates `path` and every venue file it names.
    public static func load(path: String) throws(ConfigError) -> MainConfig {
        try parse(try readConfigText(path), file: path)
    }

    /// Validates TOML `text` as if read from `file` (venue files resolve against its folder).
    public static func parse(_ text: String, file: String) throws(ConfigError) -> MainConfig {
        let table = try parseTOML(text, file: file)
        let top = KeyReader(file: file, table: table)
        try top.rejectUnknownKeys(topKeys)

        let venueFiles = try top.stringArray("venues")
        guard !venueFiles.isEmpty else { throw top.error("venues", .invalidValue, "expected at least one venue file (got [])") }
        var venues: [VenueConfig] = []
        for name in venueFiles {
            let path = resolve(name, relativeTo: file)
            do throws(ConfigError) {
                venues.append(try VenueConfig.load(path: path))
            } catch {
                // The venue file's own FILE:KEY error, and where it was named.
                throw ConfigError(file: error.file, key: error.key, kind: error.kind, message: "\(error.message) (named in \(file):venues)")
            }
        }

        // [channel]
        let channelTable = try top.subtable("channel", required: true)
        try channelTable.rejectUnknownKeys(channelKeys)
        let id = try channelTable.optionalInt("id", range: 1...Int(UInt16.max) - 1) ?? 1
        var channel = ChannelPlan(id: UInt16(id), venues: venues, lineA: try channelTable.endpoint("line_a", multicast: true))
        channel.lineB = try channelTable.optionalEndpoint("line_b", multicast: true)
        channel.snapshot = try channelTable.optionalEndpoint("snapshot", multicast: true)
        channel.snapshotRate = try channelTable.optionalInt("snapshot_rate", range: 1...1_000_000) ?? 1000
        channel.retransmit = try channelTable.optionalEndpoint("retransmit", multicast: false)
        if let size = try channelTable.optionalInt("max_packet_size", range: ChannelConfiguration.smallestMaxPacketSize...8192) {
            channel.maxPacketSize = size
        }

        // [pipeline]
        var pipeline = PipelinePlan()
        let pipelineTable = try top.subtable("pipeline", required: false)
        try pipelineTable.rejectUnknownKeys(pipelineKeys)
        if let topology = try pipelineTable.optionalString("topology") {
            guard let value = Topology(rawValue: topology) else {
                throw pipelineTable.error("topology", .invalidValue, "expected staged or fused (got \"\(topology)\")")
            }
            pipeline.topology = value
        }
        if let idle = try pipelineTable.optionalString("idle") {
            guard let value = IdleStrategy(idle) else {
                throw pipelineTable.error("idle", .invalidValue, "expected busy-spin, spin-yield[:SPINS] or spin-park[:SPINS[:MICROSECONDS]] (got \"\(idle)\")")
            }
            pipeline.idle = value
        }
        pipeline.tuning.batchSize = try pipelineTable.optionalInt("batch", range: 1...65_536) ?? pipeline.tuning.batchSize
        pipeline.tuning.prefetch = try pipelineTable.optionalBool("prefetch") ?? pipeline.tuning.prefetch
        let cpus = 0...1023
        pipeline.ingestCPUs = try pipelineTable.optionalIntArray("ingest_cpus", range: cpus) ?? []
        pipeline.bookCPU = try pipelineTable.optionalInt("book_cpu", range: cpus)
        pipeline.sendCPU = try pipelineTable.optionalInt("send_cpu", range: cpus)
        pipeline.fusedCPU = try pipelineTable.optionalInt("fused_cpu", range: cpus)
        pipeline.realtimePriority = try pipelineTable.optionalInt("realtime_priority", range: 1...99).map(Int32.init)
        pipeline.eventRingCapacity = try pipelineTable.optionalInt("event_ring", range: 64...(1 << 24)) ?? pipeline.eventRingCapacity
        pipeline.packetRingCapacity = try pipelineTable.optionalInt("packet_ring", range: 64...(1 << 20)) ?? pipeline.packetRingCapacity

        // [sender]
        var sender = SenderConfiguration()
        let senderTable = try top.subtable("sender", required: false)
        try senderTable.rejectUnknownKeys(senderKeys)
        if let kind = try senderTable.optionalString("kind") {
            guard let value = SenderConfiguration.Kind(rawValue: kind) else {
                throw senderTable.error("kind", .invalidValue, "expected standard or xdp (got \"\(kind)\")")
            }
            sender.kind = value
        }
        if let interface = try senderTable.optionalString("interface") {
            guard !interface.isEmpty, interface.utf8.count < 16, !interface.contains("/"), !interface.contains(" ") else {
                throw senderTable.error("interface", .invalidValue, "expected an interface name of 1 to 15 characters (got \"\(interface)\")")
            }
            sender.interface = interface
        }
        sender.xdpQueue = UInt32(try senderTable.optionalInt("xdp_queue", range: 0...4095) ?? 0)
        sender.noFallback = !(try senderTable.optionalBool("fallback") ?? true)
        sender.multicastLoopback = try senderTable.optionalBool("multicast_loop") ?? false
        sender.sendBufferBytes = try senderTable.optionalInt("send_buffer_bytes", range: 65_536...(1 << 30)) ?? sender.sendBufferBytes
        if sender.kind == .xdp, sender.interface == nil {
            throw senderTable.error("interface", .missingKey, "required when kind = \"xdp\" (expected the interface whose queue the XDP socket binds)")
        }

        // [host]
        let hostTable = try top.subtable("host", required: false)
        try hostTable.rejectUnknownKeys(hostKeys)
        var locking = MemoryLocking.bestEffort
        if let text = try hostTable.optionalString("mlockall") {
            guard let value = MemoryLocking(rawValue: text) else {
                throw hostTable.error("mlockall", .invalidValue, "expected required, best-effort or off (got \"\(text)\")")
            }
            locking = value
        }
        if let pages = try hostTable.optionalString("huge_pages") {
            switch pages {
            case "auto": pipeline.memory = .standard
            case "off": pipeline.memory = HotMemoryPolicy(attempts: [.normal])
            default: throw hostTable.error("huge_pages", .invalidValue, "expected auto (hugetlb, then THP, then normal pages) or off (got \"\(pages)\")")
            }
        }

        // [metrics], [log]
        let metricsTable = try top.subtable("metrics", required: false)
        try metricsTable.rejectUnknownKeys(metricsKeys)
        var metrics: MetricsEndpoint? = .defaultEndpoint
        if let listen = try metricsTable.optionalString("listen") {
            do throws(MetricsEndpointError) {
                metrics = listen.isEmpty ? nil : try MetricsEndpoint(parsing: listen, option: "listen")
            } catch {
                throw metricsTable.error("listen", .invalidValue, "expected HOST:PORT, e.g. 127.0.0.1:9464, or \"\" for no endpoint (got \"\(listen)\")")
            }
        }
        let logTable = try top.subtable("log", required: false)
        try logTable.rejectUnknownKeys(logKeys)
        var log = LogSettings()
        if let level = try logTable.optionalString("level") {
            guard let value = Logger.Level(rawValue: level) else {
                throw logTable.error("level", .invalidValue, "expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(level)\")")
            }
            log.level = value
        }
        if let format = try logTable.optionalString("format") {
            guard let value = LogFormat(rawValue: format) else {
                throw logTable.error("format", .invalidValue, "expected text or json (got \"\(format)\")")
            }
            log.format = value
        }
        if let destination = try logTable.optionalString("destination") {
            guard !destination.isEmpty else { throw logTable.error("destination", .invalidValue, "expected stderr or a file path (got \"\")") }
            log.destination = LogDestination(configValue: destination == "stderr" ? destination : resolve(destination, relativeTo: file))
        }

        return MainConfig(file: file, channel: channel, pipeline: pipeline, sender: sender, memoryLocking: locking, metrics: metrics, log: log)
    }

    /// One line for `config check`.
    public var summary: String {
        var parts = ["main: channel \(channel.id) on \(channel.lineA)"]
        if let lineB = channel.lineB { parts.append("line B \(lineB)") }
        if let snapshot = channel.snapshot { parts.append("snapshots \(snapshot) at \(channel.snapshotRate)/s") }
        if let retransmit = channel.retransmit { parts.append("retransmission \(retransmit)") }
        parts.append("venues \(channel.venues.map { "\($0.venue.name) (\($0.symbols.count))" }.joined(separator: ", "))")
        parts.append("topology \(pipeline.topology.rawValue), idle \(pipeline.idle)")
        parts.append("sender \(sender.kind.rawValue)\(sender.interface.map { " on \($0)" } ?? "")")
        parts.append("mlockall \(memoryLocking.rawValue)")
        parts.append("metrics \(metrics.map { "http://\($0)/metrics" } ?? "off")")
        parts.append("log \(log.level) \(log.format.rawValue) to \(log.destination)")
        return parts.joined(separator: "; ")
    }
}

/// The TOML table in `text`, or a `file`: syntax error with line and column.
func parseTOML(_ text: String, file: String) throws(ConfigError) -> TOMLTable {
    do {
        return try TOMLTable(string: text)
    } catch let error as TOMLParseError {
        throw ConfigError(file: file, key: nil, kind: .syntax,
                          message: "line \(error.source.begin.line), column \(error.source.begin.column): TOML syntax error: \(error.description)")
    } catch {
        throw ConfigError(file: file, key: nil, kind: .syntax, message: "TOML syntax error: \(error)")
    }
}

extension KeyReader {
    /// A typo must never silently fall back to a default.
    func rejectUnknownKeys(_ known: Set<String>) throws(ConfigError) {
        for key in table.keys.sorted() where !known.contains(key) {
            throw error(key, .unknownKey, "unknown key (expected one of \(known.sorted().joined(separator: ", ")))")
        }
    }

    /// The reader of sub-table `key` (an empty one when absent and not required).
    func subtable(_ key: String, required: Bool) throws(ConfigError) -> KeyReader {
        guard let value = table[key] else {
            if required { throw error(key, .missingKey, "required table missing (expected [\(key)])") }
            return KeyReader(file: file, table: TOMLTable(), prefix: prefix + key + ".")
        }
        guard let sub = value.table else { throw error(key, .wrongType, "expected a table [\(key)] (got \(describe(value)))") }
        return KeyReader(file: file, table: sub, prefix: prefix + key + ".")
    }

    func optionalBool(_ key: String) throws(ConfigError) -> Bool? {
        guard let value = table[key] else { return nil }
        guard value.type == .bool, let bool = value.bool else { throw error(key, .wrongType, "expected true or false (got \(describe(value)))") }
        return bool
    }

    func optionalIntArray(_ key: String, range: ClosedRange<Int>) throws(ConfigError) -> [Int]? {
        guard let value = table[key] else { return nil }
        let expected = "an array of integers in \(range.lowerBound)...\(range.upperBound)"
        guard let array = value.array else { throw error(key, .wrongType, "expected \(expected) (got \(describe(value)))") }
        var ints: [Int] = []
        for element in array {
            guard element.type == .int, let int = element.int, range.contains(int) else {
                throw error(key, .invalidValue, "expected \(expected) (got an element \(describe(element)))")
            }
            ints.append(int)
        }
        return ints
    }

    func endpoint(_ key: String, multicast: Bool) throws(ConfigError) -> UdpEndpoint {
        let text = try string(key)
        guard let endpoint = UdpEndpoint(text), endpoint.address.isMulticast == multicast else {
            throw error(key, .invalidValue, multicast
                ? "expected a multicast GROUP:PORT in 224.0.0.0/4, e.g. 239.1.1.1:30001 (got \"\(text)\")"
                : "expected a unicast IPV4:PORT, e.g. 127.0.0.1:30003 (got \"\(text)\")")
        }
        return endpoint
    }

    func optionalEndpoint(_ key: String, multicast: Bool) throws(ConfigError) -> UdpEndpoint? {
        guard table[key] != nil else { return nil }
        return try endpoint(key, multicast: multicast)
    }
}

/// Which kind of configuration a file is: a daemon file names its `venues`.
public enum ConfigFileKind: Sendable {
    case main, venue

    public static func of(_ path: String) throws(ConfigError) -> ConfigFileKind {
        try parseTOML(try readConfigText(path), file: path)["venues"] != nil ? .main : .venue
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// When a fault fires: on the Nth book message of each connection (once), or on each book
/// message with a seeded probability.
public enum FaultTrigger: Sendable, Equatable {
    case nth(Int)
    case probability(Double)
}

/// What to do to book messages. Faults count only a connection's book messages (depth
/// updates / deltas, not snapshots, trades or control messages), 1-based, so a test or a
/// script knows exactly which message was hit. Every fault is logged to stderr.
public struct FaultConfiguration: Sendable, Equatable {
    public enum CorruptKind: String, Sendable, Equatable {
        /// The text frame's last byte (its closing `}`) becomes `#`: invalid JSON, valid UTF-8.
        case json
        /// A protocol-invalid WebSocket frame (reserved opcode 0x3) instead of the message.
        case frame
    }

    public var drop: FaultTrigger?
    public var duplicate: FaultTrigger?
    /// The message is held back and sent right after the next book message of the same symbol.
    public var reorder: FaultTrigger?
    public var corrupt: FaultTrigger?
    public var corruptKind = CorruptKind.json
    /// The TCP connection is dropped (no close frame) after every N book messages.
    public var disconnectEvery: Int?
    /// The whole simulator stops for `stallMilliseconds` before sending the message.
    public var stall: FaultTrigger?
    public var stallMilliseconds = 0
    /// Seed of the probability draws.
    public var seed: UInt64 = 0
    /// Write a line per fault to stderr.
    public var logToStandardError = true

    public init() {}

    public var isEmpty: Bool {
        drop == nil && duplicate == nil && reorder == nil && corrupt == nil && disconnectEvery == nil && stall == nil
    }
}

/// One fault that was applied.
public struct FaultRecord: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case drop, duplicate, reorder, corrupt, disconnect, stall }

    public var kind: Kind
    public var client: Int
    /// The connection's book-message number the fault hit (1-based).
    public var bookMessage: Int
    public var symbol: String
    /// The venue update id of the message (Binance `u`, Bybit `u`, OKX `seqId`, Coinbase `sequence_num`, Kraken: 0).
    public var updateId: UInt64
    /// The number (1-based, all frames of the connection) of the first frame the client
    /// receives that shows the fault: the duplicate, the message after a dropped one, the
    /// later message sent first, the corrupt frame.
    public var firstAffectedFrame: Int

    public var description: String {
        "tickwire-simulate: fault \(kind.rawValue) client=\(client) book_message=\(bookMessage) symbol=\(symbol) update_id=\(updateId) first_affected_frame=\(firstAffectedFrame)"
    }
}

/// The decision for one book message.
public enum FaultAction: Sendable, Equatable {
    case deliver
    case drop
    case duplicate
    case reorder
    case corrupt(FaultConfiguration.CorruptKind)
    /// Send it, then drop the connection.
    case disconnectAfter
    /// Stall, then send it.
    case stall(milliseconds: Int)
}

/// Decides, per connection, what happens to each book message.
public struct FaultInjector: Sendable {
    public let configuration: FaultConfiguration
    private var random: SplitMix64
    public private(set) var records: [FaultRecord] = []

    public init(_ configuration: FaultConfiguration) {
        self.configuration = configuration
        random = SplitMix64(seed: configuration.seed ^ 0xFA17_FA17)
    }

    private mutating func fires(_ trigger: FaultTrigger?, _ message: Int) -> Bool {
        switch trigger {
        case nil: return false
        case .nth(let n): return message == n
        case .probability(let p): return Double(random.next() >> 11) / Double(1 << 53) < p
        }
    }

    /// What to do with the connection's `bookMessage`-th book message.
    public mutating func decide(bookMessage: Int) -> FaultAction {
        guard !configuration.isEmpty else { return .deliver }
        if fires(configuration.drop, bookMessage) { return .drop }
        if fires(configuration.duplicate, bookMessage) { return .duplicate }
        if fires(configuration.reorder, bookMessage) { return .reorder }
        if fires(configuration.corrupt, bookMessage) { return .corrupt(configuration.corruptKind) }
        if fires(configuration.stall, bookMessage) { return .stall(milliseconds: configuration.stallMilliseconds) }
        if let every = configuration.disconnectEvery, every > 0, bookMessage % every == 0 { return .disconnectAfter }
        return .deliver
    }

    public mutating func record(_ record: FaultRecord) {
        records.append(record)
        guard configuration.logToStandardError else { return }
        var line = record.description + "\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }

    /// A frame no RFC 6455 client may accept: FIN + reserved opcode 0x3, empty payload.
    public static let protocolInvalidFrame: [UInt8] = [0x83, 0x00]
}

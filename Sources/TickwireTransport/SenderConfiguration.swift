/// Which sender runs and how it is set up: what `--sender`, `--iface`, `--xdp-queue` and
/// `--no-fallback` (and the config file) decide. Defaults suit a 1500-byte-MTU link.
public struct SenderConfiguration: Equatable, Sendable {
    public enum Kind: String, Equatable, Sendable, CaseIterable {
        /// Kernel UDP socket with sendmmsg.
        case standard
        /// AF_XDP through libxdp (kernel bypass); falls back to `standard` unless `noFallback`.
        case xdp
    }

    public var kind: Kind = .standard
    /// Outgoing interface: multicast leaves through it (standard); the interface whose queue
    /// the XDP socket binds (required for XDP).
    public var interface: String?
    /// The interface queue the XDP socket binds.
    public var xdpQueue: UInt32 = 0
    /// If XDP cannot start: fail with the reason instead of falling back to the standard sender.
    public var noFallback = false

    /// SO_SNDBUF request (the standard sender); the size obtained is read back and reported.
    public var sendBufferBytes = 8 << 20
    /// Try SO_SNDBUFFORCE first (works with CAP_NET_ADMIN, ignores net.core.wmem_max).
    public var forceSendBuffer = true
    /// Datagrams per sendmmsg call / descriptors per XDP kick; 1...64.
    public var batchSize = 64
    /// Multicast TTL (1: the local link only) and whether this host's own sockets see the
    /// packets it sends (IP_MULTICAST_LOOP; the XDP path never loops back).
    public var multicastTTL: UInt8 = 1
    public var multicastLoopback = false
    /// UDP source port: the standard socket binds it (SO_REUSEADDR/SO_REUSEPORT set); XDP
    /// writes it into each header. nil: an ephemeral port (standard) / the destination port (XDP).
    public var sourcePort: UInt16?

    /// UMEM frames (each one packet); a power of two.
    public var xdpFrameCount: UInt32 = 4096
    /// TX and completion ring sizes (powers of two); the fill ring is minimal (TX only).
    public var xdpTxRingSize: UInt32 = 2048
    public var xdpCompletionRingSize: UInt32 = 2048

    public init(kind: Kind = .standard, interface: String? = nil) {
        self.kind = kind
        self.interface = interface
    }

    /// The first value a sender cannot work with, as a one-line message; nil when usable.
    public var problem: String? {
        if !(1...StandardUdpSender.maximumBatchSize).contains(batchSize) {
            return "batch size must be 1...\(StandardUdpSender.maximumBatchSize) (got \(batchSize))"
        }
        if sendBufferBytes <= 0 || sendBufferBytes > Int(Int32.max) / 2 {
            return "send buffer must be 1...\(Int(Int32.max) / 2) bytes (got \(sendBufferBytes))"
        }
        for (name, value) in [("xdp frame count", xdpFrameCount), ("xdp TX ring size", xdpTxRingSize),
                              ("xdp completion ring size", xdpCompletionRingSize)]
        where value < 64 || value & (value - 1) != 0 {
            return "\(name) must be a power of two, at least 64 (got \(value))"
        }
        if kind == .xdp, interface == nil { return "--sender xdp needs --iface NAME (the interface whose queue it binds)" }
        return nil
    }
}

/// A `--sender`/`--iface`/`--xdp-queue` value the CLI could not use; `description` is the
/// message to print (exit 2).
public struct SenderOptionError: Error, Equatable, CustomStringConvertible {
    public let description: String

    public init(description: String) { self.description = description }
}

extension SenderConfiguration {
    /// Builds the configuration from the CLI's option values (nil: not given), checked as a
    /// whole, so the CLI only forwards them.
    public static func parse(sender: String?, interface: String?, xdpQueue: String?, noFallback: Bool)
        throws(SenderOptionError) -> SenderConfiguration
    {
        var configuration = SenderConfiguration()
        if let sender {
            guard let kind = Kind(rawValue: sender) else {
                throw SenderOptionError(description: "--sender: expected standard or xdp (got \(sender))")
            }
            configuration.kind = kind
        }
        if let interface {
            guard !interface.isEmpty, interface.utf8.count < 16, !interface.contains("/"), !interface.contains(" ") else {
                throw SenderOptionError(description: "--iface: expected an interface name of 1 to 15 characters (got \(interface))")
            }
            configuration.interface = interface
        }
        if let xdpQueue {
            guard let queue = UInt32(xdpQueue) else {
                throw SenderOptionError(description: "--xdp-queue: expected a queue number 0 or more (got \(xdpQueue))")
            }
            guard configuration.kind == .xdp else {
                throw SenderOptionError(description: "--xdp-queue only applies to --sender xdp")
            }
            configuration.xdpQueue = queue
        }
        if noFallback, configuration.kind != .xdp {
            throw SenderOptionError(description: "--no-fallback only applies to --sender xdp")
        }
        configuration.noFallback = noFallback
        if let problem = configuration.problem { throw SenderOptionError(description: problem) }
        return configuration
    }
}

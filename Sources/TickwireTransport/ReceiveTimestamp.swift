import CTickwire

/// Where a frame's receive time came from. Reported at start-up (and by `doctor`) so an
/// operator knows which leg the latency figures measure.
public enum ReceiveTimestampSource: String, Sendable {
    /// The NIC stamped the packet (raw hardware clock).
    case hardware
    /// The kernel stamped it on arrival (SO_TIMESTAMPING software RX).
    case kernelSoftware = "kernel-software"
    /// No kernel stamp: CLOCK_REALTIME read after the read returned.
    case userspaceRealtime = "userspace-realtime"
}

/// A receive time in ns since the Unix epoch, with its source.
public struct ReceiveTimestamp: Hashable, Sendable {
    public var nanoseconds: UInt64
    public var source: ReceiveTimestampSource

    public init(nanoseconds: UInt64, source: ReceiveTimestampSource) {
        self.nanoseconds = nanoseconds
        self.source = source
    }

    /// The kernel's stamp when it gave one, else the realtime clock now.
    @inlinable
    public init(_ stamp: ctw_rx_timestamp) {
        switch stamp.kind {
        case CTW_RX_TIMESTAMP_HARDWARE:
            self.init(nanoseconds: stamp.nanoseconds, source: .hardware)
        case CTW_RX_TIMESTAMP_SOFTWARE:
            self.init(nanoseconds: stamp.nanoseconds, source: .kernelSoftware)
        default:
            self.init(nanoseconds: ctw_realtime_ns(), source: .userspaceRealtime)
        }
    }
}

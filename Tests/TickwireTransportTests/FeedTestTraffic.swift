import CTickwire
import Foundation
import TickwireCore
import TickwireTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Real feed traffic for the AF_XDP receiver and dissector tests: wire packets encoded by
/// PacketWriter, ordinary UDP sockets, raw AF_PACKET frames, and the compiled XDP program.
enum FeedTestTraffic {
    static let session: UInt64 = 0x187A_5B2C_0000_0001
    static let channel: UInt16 = 7

    /// A sequenced packet with one trade whose trade id is the sequence number.
    static func tradePacket(sequence: UInt64) -> [UInt8] {
        encode { writer in
            writer.begin(channel: channel, sequence: sequence, sendTime: 1_723_161_255_343_500_000 + sequence, session: session)
            _ = writer.append(Trade(
                instrument: InstrumentId(3), price: Price(mantissa: 6_183_762), quantity: Quantity(mantissa: 2000),
                aggressor: .ask, tradeId: sequence, eventTime: 1_723_161_255_342_000_000, receiveTime: 1_723_161_255_342_887_680))
        }
    }

    /// Runs `body` on a PacketWriter over a fresh buffer and returns the finished packet.
    static func encode(_ body: (inout PacketWriter) -> Void) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: WireProtocol.defaultMaxPacketSize)
        let length = buffer.withUnsafeMutableBytes { bytes in
            var writer = PacketWriter(buffer: bytes)
            body(&writer)
            return writer.finish()
        }
        return Array(buffer[..<length])
    }

    /// Sequence numbers of the packets among `payloads` (nil for any that does not decode).
    static func sequences(_ payloads: [[UInt8]]) -> [UInt64?] {
        payloads.map { payload in payload.withUnsafeBytes { try? PacketReader(packet: $0).header.sequence } }
    }

    /// `run` inside `side`'s namespace (`ip netns exec`).
    @discardableResult
    static func run(in side: VethNamespacePair.Side, _ arguments: [String]) throws -> String {
        try runCommand(["ip", "netns", "exec", side.namespace] + arguments)
    }

    /// bpf/tickwire_xdp.c compiled by scripts/build-bpf.sh once per test run.
    static let programObject: Result<String, any Error> = Result {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let built = try runCommand(["bash", "\(repository)/scripts/build-bpf.sh"])
        let object = built.split(separator: "\n").first { $0.hasSuffix("/tickwire_xdp.o") } ?? ".build-bpf/tickwire_xdp.o"
        return "\(repository)/\(object)"
    }
}

/// A non-blocking UDP socket (create it inside the namespace it belongs to).
final class TestUdpSocket: @unchecked Sendable {
    let fd: Int32

    /// Bound to `port` on every address of the current namespace (0: unbound, for sending).
    init(port: UInt16 = 0) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw TestSocketFailure(call: "socket", errno: errno) }
        guard port != 0 else { return }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); throw TestSocketFailure(call: "bind", errno: errno) }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8], to host: String, port: UInt16) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let sent = bytes.withUnsafeBytes { payload in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, payload.baseAddress, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent == bytes.count else { throw TestSocketFailure(call: "sendto", errno: errno) }
    }

    /// Every datagram waiting now.
    func drain() -> [[UInt8]] {
        var datagrams: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count >= 0 else { return datagrams }
            datagrams.append(Array(buffer[..<count]))
        }
    }
}

/// An AF_PACKET socket that sends whole Ethernet frames out of one interface, bypassing the
/// sender's IP stack: how the tests put malformed frames on the wire.
final class RawFrameSocket: @unchecked Sendable {
    let fd: Int32
    let interfaceIndex: Int32

    /// Create it inside the namespace of `interface`.
    init(interface: String) throws {
        interfaceIndex = Int32(if_nametoindex(interface))
        fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0)
        guard fd >= 0 else { throw TestSocketFailure(call: "socket(AF_PACKET)", errno: errno) }
    }

    deinit { close(fd) }

    func send(_ frame: [UInt8]) throws {
        // struct sockaddr_ll (Swift's Glibc module does not import it): family, protocol,
        // ifindex, hatype, pkttype, halen, addr[8].
        var address = [UInt8](repeating: 0, count: 20)
        withUnsafeBytes(of: UInt16(AF_PACKET)) { address.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: interfaceIndex) { address.replaceSubrange(4..<8, with: $0) }
        address[11] = 6
        address.replaceSubrange(12..<18, with: frame[0..<6])
        let sent = frame.withUnsafeBytes { bytes in
            address.withUnsafeBytes {
                sendto(fd, bytes.baseAddress, bytes.count, 0, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 20)
            }
        }
        guard sent == frame.count else { throw TestSocketFailure(call: "sendto(AF_PACKET)", errno: errno) }
    }
}

/// A failed socket, setns or thread call in the test plumbing.
struct TestSocketFailure: Error, CustomStringConvertible {
    let call: String
    let errno: Int32
    var description: String { "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

extension VethNamespacePair {
    /// Runs `body` on a thread inside `side`'s namespace and joins that thread before returning.
    /// (`run(in:_:)` only waits for a semaphore: its Foundation Thread can still hold the
    /// closure when `withoutActuallyEscaping` ends, which traps "non-escaping closure has escaped".)
    func joined<T>(in side: Side, _ body: () throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { escapable in
            var result: Result<T, any Error> = .failure(TestSocketFailure(call: "namespace thread", errno: ESRCH))
            let work = ThreadWork {
                let fd = open("/run/netns/\(side.namespace)", O_RDONLY | O_CLOEXEC)
                defer { if fd >= 0 { close(fd) } }
                guard fd >= 0, ctw_setns_network(fd) == 0 else {
                    result = .failure(TestSocketFailure(call: "setns(\(side.namespace))", errno: errno))
                    return
                }
                result = Result { try escapable() }
            }
            var thread = pthread_t()
            let started = pthread_create(&thread, nil, { context in
                Unmanaged<ThreadWork>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, Unmanaged.passRetained(work).toOpaque())
            guard started == 0 else { throw TestSocketFailure(call: "pthread_create", errno: started) }
            pthread_join(thread, nil)
            return try result.get()
        }
    }
}

/// The closure a namespace thread runs (pthread_create takes one context pointer).
private final class ThreadWork: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

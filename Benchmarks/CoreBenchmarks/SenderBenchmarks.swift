import Benchmark
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

// The standard UDP sender on the send hot path: one iteration sends a batch of 64 64-byte
// packets over loopback (sendmmsg) to a socket that is never read, so once its buffer is
// full the kernel drops them silently and the sender never blocks. Timed per batch; the
// point is the malloc count (0): the sendmmsg descriptors and address are preallocated.
// (The AF_XDP sender needs root and a veth pair: scripts/bench-peers.sh senders measures it.)

func senderBenchmarks() {
    guard let sink = LoopbackSink(), let sender = try? StandardUdpSender(configuration: SenderConfiguration()) else {
        fatalError("SenderBenchmarks: cannot open loopback UDP sockets")
    }
    let batch = 64
    let payloads = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * batch, alignment: 64)
    payloads.initializeMemory(as: UInt8.self, repeating: 0xA5)
    let packets = UnsafeMutableBufferPointer<OutgoingPacket>.allocate(capacity: batch)
    for index in 0..<batch {
        packets[index] = OutgoingPacket(UnsafeRawBufferPointer(rebasing: payloads[index * 64..<(index + 1) * 64]))
    }

    Benchmark("StandardUdpSenderSendBatchOf64", configuration: hotPathConfiguration) { _ in
        blackHole(sender.send(UnsafeBufferPointer(packets), to: sink.endpoint))
        blackHole(sink)
    }
}

/// A UDP socket bound to an ephemeral loopback port and never read.
final class LoopbackSink: @unchecked Sendable {
    let descriptor: Int32
    let endpoint: UdpEndpoint

    init?() {
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = IPv4Address("127.0.0.1")!.value.bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard descriptor >= 0, bound else { return nil }
        endpoint = UdpEndpoint(address: IPv4Address("127.0.0.1")!, port: UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}

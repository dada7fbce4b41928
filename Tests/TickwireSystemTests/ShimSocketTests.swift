import CTickwire
import Foundation
import Testing
import TickwireSystem

/// A UDP socket bound to an ephemeral loopback port; closed on deinit.
private final class LoopbackUDPSocket {
    let fd: Int32
    let address: sockaddr_in

    init() throws {
        let fd = try syscall("socket") { socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        try withUnsafePointer(to: &address) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try syscall("bind") { bind(fd, sa, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try syscall("getsockname") { getsockname(fd, sa, &length) }
            }
        }
        self.fd = fd
        self.address = address
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8], to peer: LoopbackUDPSocket) throws {
        var destination = peer.address
        try bytes.withUnsafeBytes { buffer in
            try withUnsafePointer(to: &destination) { p in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    try syscall("sendto") { sendto(fd, buffer.baseAddress, buffer.count, 0, sa, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
        }
    }
}

/// The kernel turns RX timestamping on through a static key flipped by a deferred work item
/// when the first socket asks for it, so the first datagrams after `setsockopt` may arrive
/// unstamped. Ping-pong warm-up datagrams until one carries a stamp (at most a second).
private func waitUntilKernelStamps(_ receiver: LoopbackUDPSocket, from sender: LoopbackUDPSocket) throws {
    var buffer = [UInt8](repeating: 0, count: 16)
    for _ in 0..<100 {
        try sender.send([0], to: receiver)
        var stamp = ctw_rx_timestamp()
        _ = try buffer.withUnsafeMutableBytes { b in
            try syscall("recvmsg") { ctw_recv_timestamped(receiver.fd, b.baseAddress, b.count, 0, nil, nil, &stamp) }
        }
        if stamp.kind == CTW_RX_TIMESTAMP_SOFTWARE { return }
        usleep(10_000)
    }
}

@Suite struct ReceiveTimestampTests {
    @Test func loopbackDatagramsCarryASoftwareReceiveTimestamp() throws {
        let receiver = try LoopbackUDPSocket()
        let sender = try LoopbackUDPSocket()
        try syscall("setsockopt(SO_TIMESTAMPING)") { ctw_enable_rx_timestamping(receiver.fd, 0) }
        try waitUntilKernelStamps(receiver, from: sender)
        let before = ctw_realtime_ns()
        try sender.send(Array("tick".utf8), to: receiver)
        var buffer = [UInt8](repeating: 0, count: 64)
        var stamp = ctw_rx_timestamp()
        let count = try buffer.withUnsafeMutableBytes { b in
            try syscall("recvmsg") { ctw_recv_timestamped(receiver.fd, b.baseAddress, b.count, 0, nil, nil, &stamp) }
        }
        let after = ctw_realtime_ns()
        #expect(count == 4)
        #expect(Array(buffer[0..<4]) == Array("tick".utf8))
        #expect(stamp.kind == CTW_RX_TIMESTAMP_SOFTWARE)
        #expect(stamp.nanoseconds >= before && stamp.nanoseconds <= after)
    }

    @Test func withoutTimestampingTheStampSaysNone() throws {
        let receiver = try LoopbackUDPSocket()
        let sender = try LoopbackUDPSocket()
        try sender.send([1, 2, 3], to: receiver)
        var buffer = [UInt8](repeating: 0, count: 16)
        var stamp = ctw_rx_timestamp()
        _ = try buffer.withUnsafeMutableBytes { b in
            try syscall("recvmsg") { ctw_recv_timestamped(receiver.fd, b.baseAddress, b.count, 0, nil, nil, &stamp) }
        }
        #expect(stamp.kind == CTW_RX_TIMESTAMP_NONE)
        #expect(stamp.nanoseconds == 0)
    }
}

@Suite struct BatchedDatagramTests {
    @Test func sendmmsgAndRecvmmsgMoveABatchInOneCallEach() throws {
        let receiver = try LoopbackUDPSocket()
        let sender = try LoopbackUDPSocket()
        try syscall("setsockopt(SO_TIMESTAMPING)") { ctw_enable_rx_timestamping(receiver.fd, 0) }
        try waitUntilKernelStamps(receiver, from: sender)
        let payloads: [[UInt8]] = (0..<16).map { i in [UInt8](repeating: UInt8(i), count: 10 + i) }
        var destination = receiver.address
        let sent = try withUnsafePointer(to: &destination) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                var storage = payloads
                return try storage.withUnsafeMutableBufferPointer { rows in
                    var datagrams = (0..<rows.count).map { i in
                        rows[i].withUnsafeMutableBytes { ctw_datagram(data: $0.baseAddress, length: $0.count, address: sa, address_length: socklen_t(MemoryLayout<sockaddr_in>.size)) }
                    }
                    return try syscall("sendmmsg") { ctw_sendmmsg(sender.fd, &datagrams, UInt32(datagrams.count), 0) }
                }
            }
        }
        #expect(sent == 16)

        let buffers = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 64, alignment: 8)
        defer { buffers.deallocate() }
        var slots = (0..<16).map { i in
            var slot = ctw_receive_slot()
            slot.data = buffers.baseAddress! + i * 64
            slot.capacity = 64
            return slot
        }
        var received = 0
        while received < 16 {
            let n = try slots.withUnsafeMutableBufferPointer { s in
                try syscall("recvmmsg") { ctw_recvmmsg(receiver.fd, s.baseAddress! + received, UInt32(16 - received), 0) }
            }
            received += Int(n)
        }
        for (i, slot) in slots.enumerated() {
            #expect(slot.length == 10 + i)
            #expect(slot.stamp.kind == CTW_RX_TIMESTAMP_SOFTWARE)
            #expect(Array(UnsafeRawBufferPointer(start: slot.data, count: slot.length)) == payloads[i])
        }
    }
}

@Suite struct XskShimTests {
    @Test(.enabled(if: isRoot, needsRoot))
    func aUmemRegistersOverHotMemoryAndIsReleased() throws {
        let frames = 1024
        let memory = try HotMemory(bytes: frames * 4096)
        var config = ctw_xsk_umem_config(fill_size: 1024, comp_size: 1024, frame_size: 4096, frame_headroom: 0)
        var umem: OpaquePointer?
        try negativeErrnoCall("xsk_umem__create") { ctw_xsk_umem_create(&umem, memory.base, UInt64(memory.size), &config) }
        #expect(ctw_xsk_umem_fd(umem) >= 0)
        try negativeErrnoCall("xsk_umem__delete") { ctw_xsk_umem_delete(umem) }
    }

    @Test(.enabled(if: isRoot, needsRoot))
    func aSocketOnAMissingInterfaceFailsWithATypedError() throws {
        let memory = try HotMemory(bytes: 64 * 4096, policy: HotMemoryPolicy(attempts: [.normal]))
        var umemConfig = ctw_xsk_umem_config(fill_size: 64, comp_size: 64, frame_size: 4096, frame_headroom: 0)
        var umem: OpaquePointer?
        try negativeErrnoCall("xsk_umem__create") { ctw_xsk_umem_create(&umem, memory.base, UInt64(memory.size), &umemConfig) }
        defer { _ = ctw_xsk_umem_delete(umem) }
        var socketConfig = ctw_xsk_socket_config(rx_size: 64, tx_size: 64, bind_flags: 0, xdp_flags: 0, inhibit_prog_load: 1)
        var socket: OpaquePointer?
        #expect(throws: SystemError.self) {
            try negativeErrnoCall("xsk_socket__create") { ctw_xsk_socket_create(&socket, "tw-no-such-if", 0, umem, &socketConfig) }
        }
    }
}

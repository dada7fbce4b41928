import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A connected non-blocking TCP socket (TCP_NODELAY, SO_TIMESTAMPING software RX, SO_BUSY_POLL where allowed), optionally
/// under TLS. Reads return the kernel receive stamp of the bytes: directly from recvmsg for
/// plain TCP, and through the TLS shim's socket BIO for TLS, so both modes keep kernel stamps.
public final class TCPConnection {
    public enum ReadResult {
        case bytes(Int, ReceiveTimestamp)
        case wouldBlock
        case endOfStream
    }

    public let descriptor: Int32
    private let tls: TLSSession?
    private var isClosed = false

    private init(descriptor: Int32, tls: TLSSession?) {
        self.descriptor = descriptor
        self.tls = tls
    }

    deinit { close() }

    // MARK: set-up (blocking until `timeout`; never on the hot path)

    /// Resolves `host` (IPv4 or IPv6), connects to the first address that answers, and
    /// completes the TLS handshake when `tls` is given (verifying the certificate for `host`).
    public static func connect(host: String, port: UInt16, tls: TLSContext?, timeout: Duration) throws(TransportError) -> TCPConnection {
        try connect(host: host, port: port, tls: tls, deadline: Deadline(after: timeout))
    }

    static func connect(host: String, port: UInt16, tls: TLSContext?, deadline: Deadline) throws(TransportError) -> TCPConnection {
        let descriptor = try connectSocket(host: host, port: port, deadline: deadline)
        let connection: TCPConnection
        do throws(TransportError) {
            try configure(descriptor)
            let session = try tls.map { context throws(TransportError) in
                try TLSSession(context: context, descriptor: descriptor, hostName: host)
            }
            connection = TCPConnection(descriptor: descriptor, tls: session)
        } catch {
            Glibc.close(descriptor)
            throw error
        }
        while let wait = try connection.continueHandshake() {
            try connection.wait(for: wait, until: deadline, doing: "TLS handshake with \(host)")
        }
        return connection
    }

    /// Wraps a socket from accept(2); a TLS server handshake then runs via `continueHandshake`.
    static func accepted(descriptor: Int32, tls: TLSContext?) throws(TransportError) -> TCPConnection {
        do throws(TransportError) {
            try configure(descriptor)
            let session = try tls.map { context throws(TransportError) in
                try TLSSession(context: context, descriptor: descriptor, hostName: nil)
            }
            return TCPConnection(descriptor: descriptor, tls: session)
        } catch {
            Glibc.close(descriptor)
            throw error
        }
    }

    /// Advances the TLS handshake; nil when complete (or plain TCP), else the readiness it needs.
    func continueHandshake() throws(TransportError) -> Int16? {
        guard let tls else { return nil }
        switch try tls.handshake() {
        case .done: return nil
        case .wantRead: return Int16(POLLIN)
        case .wantWrite: return Int16(POLLOUT)
        }
    }

    /// Blocks in poll(2) until the socket is ready for `events` or the deadline passes.
    func wait(for events: Int16, until deadline: Deadline, doing what: @autoclosure () -> String) throws(TransportError) {
        var descriptor = pollfd(fd: self.descriptor, events: events, revents: 0)
        let ready = try transportSyscall("poll") { poll(&descriptor, 1, deadline.remainingMilliseconds) }
        if ready == 0 { throw .timedOut(what()) }
    }

    // MARK: I/O (non-blocking)

    /// One read: as many bytes as are ready, up to `buffer.count`.
    @inline(__always)
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> ReadResult {
        if let tls {
            guard let (count, stamp) = try tls.read(into: buffer) else { return .wouldBlock }
            return count == 0 ? .endOfStream : .bytes(count, ReceiveTimestamp(stamp))
        }
        var stamp = ctw_rx_timestamp()
        do throws(SystemError) {
            let count = try syscall("recvmsg") {
                ctw_recv_timestamped(descriptor, buffer.baseAddress, buffer.count, 0, nil, nil, &stamp)
            }
            return count == 0 ? .endOfStream : .bytes(count, ReceiveTimestamp(stamp))
        } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return .wouldBlock
        } catch {
            throw .system(error)
        }
    }

    /// Writes what the socket takes now; 0 when it takes nothing.
    @inline(__always)
    public func write(_ bytes: UnsafeRawBufferPointer) throws(TransportError) -> Int {
        if let tls { return try tls.write(bytes) }
        do throws(SystemError) {
            return try syscall("send") { send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
        } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return 0
        } catch {
            throw .system(error)
        }
    }

    /// Writes all of `bytes`, waiting for the socket as needed (set-up only).
    func writeAll(_ bytes: UnsafeRawBufferPointer, until deadline: Deadline, doing what: @autoclosure () -> String) throws(TransportError) {
        var offset = 0
        while offset < bytes.count {
            let written = try write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            if written == 0 { try wait(for: Int16(POLLOUT), until: deadline, doing: what()) }
            offset += written
        }
    }

    func writeAll(_ bytes: [UInt8], until deadline: Deadline, doing what: @autoclosure () -> String) throws(TransportError) {
        // Array.withUnsafeBytes is untyped-rethrows: carry the typed error out in a Result.
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(TransportError) in try writeAll(buffer, until: deadline, doing: what()) }
        }.get()
    }

    /// Reads at least one byte, waiting for the socket as needed (set-up only); 0 at end of stream.
    func readSome(into buffer: UnsafeMutableRawBufferPointer, until deadline: Deadline, doing what: @autoclosure () -> String) throws(TransportError) -> Int {
        while true {
            switch try read(into: buffer) {
            case .bytes(let count, _): return count
            case .endOfStream: return 0
            case .wouldBlock: try wait(for: Int16(POLLIN), until: deadline, doing: what())
            }
        }
    }

    /// Sends TLS close_notify (best effort) and closes the socket. Idempotent.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        tls?.shutdown()
        Glibc.close(descriptor)
    }

    // MARK: helpers

    private static func configure(_ descriptor: Int32) throws(TransportError) {
        var on: Int32 = 1
        try transportSyscall("setsockopt(TCP_NODELAY)") {
            setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        }
        try transportSyscall("setsockopt(SO_TIMESTAMPING)") { ctw_enable_rx_timestamping(descriptor, 0) }
        // The owning thread polls this socket continuously: let the kernel busy-poll the NIC
        // queue too for up to 50 µs per read. Raising it above net.core.busy_read needs
        // CAP_NET_ADMIN; without it (or on loopback, where it does nothing) carry on as is.
        var busyPollMicroseconds: Int32 = 50
        _ = setsockopt(descriptor, SOL_SOCKET, SO_BUSY_POLL, &busyPollMicroseconds, socklen_t(MemoryLayout<Int32>.size))
    }

    private static func connectSocket(host: String, port: UInt16, deadline: Deadline) throws(TransportError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else {
            throw .addressResolution(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        var lastError = TransportError.addressResolution(host: host, reason: "no addresses")
        var candidate: UnsafeMutablePointer<addrinfo>? = list
        while let address = candidate?.pointee, !deadline.hasPassed {
            candidate = address.ai_next
            do throws(TransportError) {
                return try connectOne(address, deadline: deadline, name: host)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private static func connectOne(_ address: addrinfo, deadline: Deadline, name: String) throws(TransportError) -> Int32 {
        let descriptor = try transportSyscall("socket") {
            socket(address.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(TransportError) {
            do throws(SystemError) {
                try syscall("connect") { Glibc.connect(descriptor, address.ai_addr, address.ai_addrlen) }
            } catch where error.errno == EINPROGRESS {
                var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                if try transportSyscall("poll", { poll(&ready, 1, deadline.remainingMilliseconds) }) == 0 {
                    throw .timedOut("TCP connect to \(name)")
                }
                var socketError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                try transportSyscall("getsockopt(SO_ERROR)") { getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &socketError, &length) }
                if socketError != 0 { throw .system(SystemError("connect", errno: socketError)) }
            } catch {
                throw .system(error)
            }
            return descriptor
        } catch {
            Glibc.close(descriptor)
            throw error
        }
    }
}

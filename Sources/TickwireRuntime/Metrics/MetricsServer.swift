import Prometheus
import Synchronization
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// Serves `GET /metrics` (Prometheus text format 0.0.4) from a `MetricsExporter` on one
/// thread of its own: a blocking poll/accept loop, one short connection at a time, each
/// answered and closed. Off the hot path, so plain syscalls and allocation are fine; what it
/// must never do is crash or hang on a bad client: requests are bounded in size and time,
/// and every answer is counted in `tickwire_metrics_http_requests_total{code}`.
public final class MetricsServer: @unchecked Sendable {
    // @unchecked: `thread` is touched by start/stop only (the owner's thread); the loop
    // shares the stop flag (atomic) and the immutable rest.
    /// The bound endpoint (the real port when asked for port 0).
    public let endpoint: MetricsEndpoint
    public let exporter: MetricsExporter
    private let listener: Int32
    private let stopRequested = Atomic<Bool>(false)
    private var thread: pthread_t?
    private let answered: [Int: Counter]

    /// Largest request head read; anything longer is answered 431.
    static let maximumRequestBytes = 8192
    /// Most request bytes discarded after answering.
    static let maximumDiscardBytes = 1 << 20
    /// How long a client may take to send its request or read the answer.
    static let clientTimeoutMilliseconds = 2000
    /// How often the loop looks at the stop flag while no client comes.
    static let pollMilliseconds: Int32 = 100

    public init(endpoint: MetricsEndpoint = .defaultEndpoint, exporter: MetricsExporter) throws(SystemError) {
        let listener = try syscall("socket") { socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do throws(SystemError) {
            var on: Int32 = 1
            try syscall("setsockopt(SO_REUSEADDR)") { setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size)) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = endpoint.port.bigEndian
            address.sin_addr.s_addr = endpoint.address.value.bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            try withUnsafeMutablePointer(to: &address) { pointer throws(SystemError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress throws(SystemError) in
                    try syscall("bind") { bind(listener, socketAddress, length) }
                    try syscall("listen") { listen(listener, 64) }
                    try syscall("getsockname") { getsockname(listener, socketAddress, &length) }
                }
            }
            self.endpoint = MetricsEndpoint(address: endpoint.address, port: UInt16(bigEndian: address.sin_port))
        } catch {
            close(listener)
            throw error
        }
        self.listener = listener
        self.exporter = exporter
        answered = Dictionary(uniqueKeysWithValues: [200, 400, 404, 405, 408, 431].map { code in
            (code, exporter.registry.makeCounter(
                descriptor: MetricsExporter.name("tickwire_metrics_http_requests_total", help: "Requests to the metrics endpoint, by HTTP status answered."),
                labels: [("code", "\(code)")]))
        })
    }

    /// The serving thread keeps the server alive until `stop`.
    deinit { close(listener) }

    /// Starts the serving thread (once).
    public func start() {
        guard thread == nil else { return }
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { context in
            let server = Unmanaged<MetricsServer>.fromOpaque(context!).takeRetainedValue()
            server.serve()
            return nil
        }, context)
        precondition(status == 0, "pthread_create for the metrics server failed: \(status)")
        self.thread = thread
    }

    /// Stops the serving thread and waits for it (at most a poll interval plus a client timeout).
    public func stop() {
        guard let thread else { return }
        stopRequested.store(true, ordering: .releasing)
        pthread_join(thread, nil)
        self.thread = nil
    }

    private func serve() {
        var request = [UInt8](repeating: 0, count: Self.maximumRequestBytes)
        while !stopRequested.load(ordering: .acquiring) {
            var descriptor = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard (try? syscall("poll") { poll(&descriptor, 1, Self.pollMilliseconds) }) == 1 else { continue }
            // Fails when the client already went away (ECONNABORTED) or descriptors ran out:
            // wait a poll interval rather than spin on a listener that stays readable.
            guard let client = try? syscall("accept", { accept(listener, nil, nil) }) else {
                usleep(UInt32(Self.pollMilliseconds) * 1000)
                continue
            }
            answer(client, buffer: &request)
            close(client)
        }
    }

    private func answer(_ client: Int32, buffer: inout [UInt8]) {
        var timeout = timeval(tv_sec: Self.clientTimeoutMilliseconds / 1000, tv_usec: Self.clientTimeoutMilliseconds % 1000 * 1000)
        _ = setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let (status, body) = switch readRequestHead(client, into: &buffer) {
        case .complete(let length): route(MetricsRequest(head: buffer[..<length]))
        case .tooLarge: (431, Array("request header too large\n".utf8))
        case .timedOut: (408, Array("request timeout\n".utf8))
        case .closed: (0, [])
        }
        guard status != 0 else { return }
        answered[status]?.increment()
        let head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
            + "Content-Type: \(status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")\r\n"
            + "Content-Length: \(body.count)\r\n"
            + (status == 405 ? "Allow: GET\r\n" : "")
            + "Connection: close\r\n\r\n"
        if send(client, Array(head.utf8)) && send(client, body) { discardUnread(client, buffer: &buffer) }
    }

    /// Closing with unread request bytes makes the kernel reset the connection, which can
    /// destroy the answer before the client reads it: stop sending, then discard what the
    /// client already sent. Never waits: the next scrape must not queue behind this client.
    private func discardUnread(_ client: Int32, buffer: inout [UInt8]) {
        shutdown(client, Int32(SHUT_WR))
        var discarded = 0
        while discarded < Self.maximumDiscardBytes {
            let received = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if received < 0 && errno == EINTR { continue }
            guard received > 0 else { return }
            discarded += received
        }
    }

    private func route(_ request: MetricsRequest?) -> (Int, [UInt8]) {
        guard let request else { return (400, Array("bad request\n".utf8)) }
        guard request.method == "GET" else { return (405, Array("only GET\n".utf8)) }
        guard request.path == "/metrics" else { return (404, Array("not found: the metrics are at /metrics\n".utf8)) }
        return (200, exporter.render())
    }

    private enum ReadResult {
        case complete(Int)
        case tooLarge
        case timedOut
        case closed
    }

    /// Reads until the blank line that ends the head (a GET has no body).
    private func readRequestHead(_ client: Int32, into buffer: inout [UInt8]) -> ReadResult {
        var length = 0
        while true {
            guard length < buffer.count else { return .tooLarge }
            let received = buffer.withUnsafeMutableBytes { bytes in
                recv(client, bytes.baseAddress! + length, bytes.count - length, 0)
            }
            if received == 0 { return .closed }
            if received < 0 {
                let error = errno
                if error == EINTR { continue }
                return error == EAGAIN || error == EWOULDBLOCK ? .timedOut : .closed
            }
            length += received
            if MetricsRequest.headEnd(buffer[..<length]) != nil { return .complete(length) }
        }
    }

    /// Sends all of `bytes`; false when the client went away or stalled past the timeout.
    private func send(_ client: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(client, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += sent
        }
        return true
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        default: "Error"
        }
    }
}

/// The request line of an HTTP/1.x request head: `METHOD TARGET HTTP/1.x`.
struct MetricsRequest: Equatable {
    var method: String
    /// The target without its query string.
    var path: String

    /// nil unless the head starts with a well-formed request line.
    init?(head: ArraySlice<UInt8>) {
        guard let lineEnd = head.firstIndex(of: UInt8(ascii: "\r")) else { return nil }
        let parts = head[..<lineEnd].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[1].first == UInt8(ascii: "/"),
              parts[2].elementsEqual("HTTP/1.1".utf8) || parts[2].elementsEqual("HTTP/1.0".utf8),
              parts[0].allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }),
              let target = String(validating: parts[1], as: UTF8.self) else { return nil }
        method = String(decoding: parts[0], as: UTF8.self)
        path = String(target.prefix { $0 != "?" })
    }

    /// Index just past "\r\n\r\n", if the head is complete.
    static func headEnd(_ bytes: ArraySlice<UInt8>) -> Int? {
        let terminator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4 else { return nil }
        var index = bytes.startIndex
        while index + 4 <= bytes.endIndex {
            if bytes[index..<index + 4].elementsEqual(terminator) { return index + 4 }
            index += 1
        }
        return nil
    }
}

import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An answer to a plain HTTP GET on the server's port (e.g. Binance's REST depth endpoint).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, body: [UInt8], headers: [(name: String, value: String)] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }
}

/// The WebSocket (ws:// or wss://) and HTTP GET server of the exchange simulator.
///
/// Thread-confined like the client: the thread that owns it calls `poll` in a loop (it waits
/// in poll(2) up to `timeout`, so an idle server costs no CPU) and calls the send methods
/// between polls. Outgoing frames are queued per client and written in large batches.
public final class WebSocketServer {
    public typealias ClientID = Int

    public enum Event {
        /// A WebSocket client finished its upgrade for `target` (path and query).
        case connected(ClientID, target: String)
        case text(ClientID, UnsafeRawBufferPointer)
        case binary(ClientID, UnsafeRawBufferPointer)
        case pong(ClientID, UnsafeRawBufferPointer)
        /// The client left: `code` from its close frame, nil when the connection just ended.
        case disconnected(ClientID, code: UInt16?)
    }

    /// The bound port (the kernel's choice when 0 was asked for).
    public let port: UInt16
    /// Answers plain HTTP GETs by target (path and query); 404 when nil.
    public var httpHandler: ((String) -> HTTPResponse)?
    /// Headers added to every 101 answer: fault injection, e.g. an extension nobody offered.
    public var upgradeResponseHeaders: [(name: String, value: String)] = []
    /// A client whose unsent backlog exceeds this is dropped (it cannot keep up).
    public var maximumBacklog = 64 << 20

    private let listener: Int32
    private let tls: TLSContext?
    private let maximumMessageSize: Int
    private var connections: [ClientID: ServerConnection] = [:]
    private var nextID: ClientID = 1
    private var pollDescriptors: [pollfd] = []
    private var pollOwners: [ServerConnection?] = []

    /// Listens on `host`:`port` (0 = ephemeral); `tls` makes it wss:// and https://.
    public init(host: String = "127.0.0.1", port: UInt16 = 0, tls: TLSContext? = nil,
                maximumMessageSize: Int = 1 << 20) throws(TransportError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list, let address = Optional(list.pointee) else {
            throw .addressResolution(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        let listener = try transportSyscall("socket") {
            socket(address.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(TransportError) {
            var on: Int32 = 1
            try transportSyscall("setsockopt(SO_REUSEADDR)") {
                setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            }
            try transportSyscall("bind") { bind(listener, address.ai_addr, address.ai_addrlen) }
            try transportSyscall("listen") { listen(listener, 1024) }
            var bound = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            try withUnsafeMutablePointer(to: &bound) { pointer throws(TransportError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress throws(TransportError) in
                    _ = try transportSyscall("getsockname") { getsockname(listener, socketAddress, &length) }
                }
            }
            self.port = withUnsafeBytes(of: bound) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }  // sin_port and sin6_port share offset 2
        } catch {
            Glibc.close(listener)
            throw error
        }
        self.listener = listener
        self.tls = tls
        self.maximumMessageSize = maximumMessageSize
    }

    deinit {
        for connection in connections.values { connection.transport.close() }
        Glibc.close(listener)
    }

    /// Open WebSocket clients.
    public var clientIDs: [ClientID] { connections.values.filter { $0.phase == .webSocket }.map(\.id).sorted() }

    /// Connections in any phase (a close handshake under way included).
    public var connectionCount: Int { connections.count }

    /// Bytes queued for clients that their sockets have not taken yet.
    public var backlogBytes: Int { connections.values.reduce(0) { $0 + $1.outbound.count } }

    /// Waits up to `timeout` for activity, then accepts, reads, answers handshakes, HTTP GETs,
    /// pings and closes, and writes queued frames.
    public func poll(timeout: Duration, _ handler: (Event) -> Void) throws(TransportError) {
        pollDescriptors.removeAll(keepingCapacity: true)
        pollOwners.removeAll(keepingCapacity: true)
        pollDescriptors.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0))
        pollOwners.append(nil)
        for connection in connections.values {
            let wantsWrite = !connection.outbound.isEmpty || connection.handshakeWantsWrite
            pollDescriptors.append(pollfd(fd: connection.transport.descriptor,
                                          events: Int16(POLLIN) | (wantsWrite ? Int16(POLLOUT) : 0), revents: 0))
            pollOwners.append(connection)
        }
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let ready = try transportSyscall("poll") { Glibc.poll(&pollDescriptors, nfds_t(pollDescriptors.count), milliseconds) }
        guard ready > 0 else { return }
        if pollDescriptors[0].revents != 0 { try acceptClients() }
        for index in 1..<pollDescriptors.count where pollDescriptors[index].revents != 0 {
            guard let connection = pollOwners[index] else { continue }
            service(connection, handler)
        }
        flush()
    }

    // MARK: sending (queued; written by `poll` or `flush`, or at once when the queue is large)

    public func sendText(_ bytes: UnsafeRawBufferPointer, to client: ClientID) {
        guard let connection = connections[client] else { return }
        enqueue(.text, bytes, on: connection)
    }

    public func broadcastText(_ bytes: UnsafeRawBufferPointer) {
        for connection in connections.values where connection.phase == .webSocket { enqueue(.text, bytes, on: connection) }
    }

    public func sendPing(_ payload: UnsafeRawBufferPointer, to client: ClientID) {
        guard let connection = connections[client] else { return }
        enqueue(.ping, UnsafeRawBufferPointer(rebasing: payload.prefix(125)), on: connection)
    }

    /// Fault injection: bytes written as they are (e.g. a corrupt frame).
    public func sendRaw(_ bytes: UnsafeRawBufferPointer, to client: ClientID) {
        guard let connection = connections[client] else { return }
        connection.outbound.append(bytes)
    }

    /// Starts the close handshake with `code`; the client's echo ends the connection.
    public func close(_ client: ClientID, code: UInt16 = WebSocketCloseCode.normal) {
        guard let connection = connections[client], connection.phase == .webSocket else { return }
        var payload = code.bigEndian
        withUnsafeBytes(of: &payload) { enqueue(.close, $0, on: connection) }
        connection.phase = .closing
    }

    /// Fault injection: drops the TCP connection without any close frame.
    public func drop(_ client: ClientID) {
        guard let connection = connections.removeValue(forKey: client) else { return }
        connection.transport.close()
    }

    /// Writes every queued frame the sockets take now.
    public func flush() {
        for connection in connections.values where !connection.outbound.isEmpty || connection.phase == .finishing {
            do throws(TransportError) {
                try connection.outbound.flush(to: connection.transport)
                if connection.outbound.isEmpty && connection.phase == .finishing { remove(connection) }
            } catch {
                remove(connection)
            }
        }
    }

    // MARK: internals

    private func enqueue(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer, on connection: ServerConnection) {
        let outbound = connection.outbound
        let frame = outbound.reserve(WebSocketFrameHeader.maximumLength + payload.count)
        let headerLength = WebSocketFrameHeader.encode(opcode: opcode, payloadLength: payload.count, maskKey: nil, into: frame)
        if let source = payload.baseAddress { (frame + headerLength).copyMemory(from: source, byteCount: payload.count) }
        outbound.commit(headerLength + payload.count)
        if outbound.count >= 256 << 10 {  // a batch is ready: write it rather than grow
            do throws(TransportError) {
                try outbound.flush(to: connection.transport)
            } catch {
                return remove(connection)
            }
            if outbound.count > maximumBacklog { remove(connection) }
        }
    }

    private func acceptClients() throws(TransportError) {
        while true {
            let descriptor: Int32
            do throws(SystemError) {
                // accept4 needs _GNU_SOURCE, which Swift's Glibc does not see: accept, then fcntl.
                descriptor = try syscall("accept") { accept(listener, nil, nil) }
            } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK || error.errno == ECONNABORTED {
                return
            } catch {
                throw .system(error)
            }
            // One client's failed set-up must not stop the server: skip it.
            do throws(TransportError) {
                try transportSyscall("fcntl(O_NONBLOCK)") { fcntl(descriptor, F_SETFL, O_NONBLOCK) }
                try transportSyscall("fcntl(FD_CLOEXEC)") { fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
            } catch {
                Glibc.close(descriptor)
                continue
            }
            guard let transport = try? TCPConnection.accepted(descriptor: descriptor, tls: tls) else { continue }
            let connection = ServerConnection(id: nextID, transport: transport, maximumMessageSize: maximumMessageSize,
                                              phase: tls == nil ? .awaitingRequest : .tlsHandshake)
            connections[connection.id] = connection
            nextID += 1
        }
    }

    /// Reads until the socket is drained (TLS may hold decrypted bytes poll(2) cannot see).
    private func service(_ connection: ServerConnection, _ handler: (Event) -> Void) {
        do throws(TransportError) {
            if connection.phase == .tlsHandshake {
                let wait = try connection.transport.continueHandshake()
                connection.handshakeWantsWrite = wait == Int16(POLLOUT)
                if wait != nil { return }
                connection.phase = .awaitingRequest
            }
            while connections[connection.id] != nil {
                switch try connection.transport.read(into: connection.reader.writableTail()) {
                case .bytes(let count, _):
                    connection.reader.didWrite(count)
                    try process(connection, handler)
                case .wouldBlock:
                    return
                case .endOfStream:
                    throw .connectionClosed
                }
            }
        } catch {
            // Only a WebSocket client still open is reported: closes were reported when their frame came.
            let wasOpen = connection.phase == .webSocket || connection.phase == .closing
            switch error {
            case .protocolError: sendCloseAndFinish(connection, code: WebSocketCloseCode.protocolError)
            case .oversize: sendCloseAndFinish(connection, code: WebSocketCloseCode.messageTooBig)
            default: remove(connection)
            }
            if wasOpen { handler(.disconnected(connection.id, code: nil)) }
        }
    }

    private func process(_ connection: ServerConnection, _ handler: (Event) -> Void) throws(TransportError) {
        if connection.phase == .awaitingRequest {
            guard let request = try HTTPHead.parse(connection.reader.unparsedBytes) else { return }
            connection.reader.consume(request.length)
            try answer(request, on: connection, handler)
        }
        while connection.phase == .webSocket || connection.phase == .closing, let frame = try connection.reader.nextFrame() {
            switch frame {
            case .text(let payload): handler(.text(connection.id, payload))
            case .binary(let payload): handler(.binary(connection.id, payload))
            case .ping(let payload): enqueue(.pong, payload, on: connection)
            case .pong(let payload): handler(.pong(connection.id, payload))
            case .close(let code, _):
                if connection.phase == .webSocket {  // client-initiated: echo, then close after the write
                    sendCloseAndFinish(connection, code: code == WebSocketCloseCode.noStatus ? nil : code)
                } else {
                    remove(connection)
                }
                handler(.disconnected(connection.id, code: code))
                return
            }
        }
    }

    private func answer(_ request: HTTPHead, on connection: ServerConnection, _ handler: (Event) -> Void) throws(TransportError) {
        if WebSocketHandshake.isUpgrade(request) {
            guard let response = WebSocketHandshake.response(to: request, extraHeaders: upgradeResponseHeaders) else {
                return respond(HTTPResponse(status: 400, body: Array("bad WebSocket upgrade\n".utf8)), on: connection)
            }
            response.withUnsafeBytes { connection.outbound.append($0) }
            connection.phase = .webSocket
            handler(.connected(connection.id, target: request.startLine.1))
            return
        }
        guard request.startLine.0 == "GET" else {
            return respond(HTTPResponse(status: 405, body: Array("only GET\n".utf8)), on: connection)
        }
        respond(httpHandler?(request.startLine.1) ?? HTTPResponse(status: 404, body: Array("not found\n".utf8)), on: connection)
    }

    /// Queues a complete HTTP/1.1 response; the connection closes once it is written.
    private func respond(_ response: HTTPResponse, on connection: ServerConnection) {
        var head = "HTTP/1.1 \(response.status) \(reasonPhrase(response.status))\r\n"
        head += "Content-Type: application/json\r\nConnection: close\r\n"
        // A handler that sets Transfer-Encoding (e.g. chunked) supplies the encoded body itself.
        if !response.headers.contains(where: { $0.name.lowercased() == "transfer-encoding" }) {
            head += "Content-Length: \(response.body.count)\r\n"
        }
        for header in response.headers { head += "\(header.name): \(header.value)\r\n" }
        Array((head + "\r\n").utf8).withUnsafeBytes { connection.outbound.append($0) }
        response.body.withUnsafeBytes { connection.outbound.append($0) }
        connection.phase = .finishing
    }

    private func sendCloseAndFinish(_ connection: ServerConnection, code: UInt16?) {
        if var payload = code?.bigEndian {
            withUnsafeBytes(of: &payload) { enqueue(.close, $0, on: connection) }
        } else {
            enqueue(.close, UnsafeRawBufferPointer(start: nil, count: 0), on: connection)
        }
        connection.phase = .finishing
    }

    private func remove(_ connection: ServerConnection) {
        connection.transport.close()
        connections[connection.id] = nil
    }

    private func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 418: return "I'm a teapot"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}

/// One accepted connection: TLS handshake → HTTP request → WebSocket (or one HTTP response).
private final class ServerConnection {
    enum Phase { case tlsHandshake, awaitingRequest, webSocket, closing, finishing }

    let id: WebSocketServer.ClientID
    let transport: TCPConnection
    let reader: WebSocketFrameReader
    let outbound = OutboundBuffer(capacity: 512 << 10)
    var phase: Phase
    var handshakeWantsWrite = false

    init(id: WebSocketServer.ClientID, transport: TCPConnection, maximumMessageSize: Int, phase: Phase) {
        self.id = id
        self.transport = transport
        self.reader = WebSocketFrameReader(maximumMessageSize: maximumMessageSize, readChunk: 64 << 10, fromClient: true)
        self.phase = phase
    }
}

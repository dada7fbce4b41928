import CTickwire

/// What one `poll` hands the owner. Payload views point into the receive buffer and are
/// valid only until the next `poll`.
public enum WebSocketEvent {
    case text(UnsafeRawBufferPointer, ReceiveTimestamp)
    case binary(UnsafeRawBufferPointer, ReceiveTimestamp)
    case pong(UnsafeRawBufferPointer, ReceiveTimestamp)
    /// The close handshake finished (server- or client-initiated); the socket is closed.
    case closed(code: UInt16, reason: UnsafeRawBufferPointer)
}

public struct WebSocketClientOptions: Sendable {
    /// PEM CA trusted in addition to the system store (e.g. the simulator's generated CA).
    public var extraCAFile: String?
    /// Largest message accepted; bigger ones are refused with close 1009 and `.oversize`.
    public var maximumMessageSize: Int
    /// Minimum bytes offered to each socket read.
    public var receiveBufferSize: Int
    public var connectTimeout: Duration
    /// Extra headers for the upgrade request.
    public var headers: [(name: String, value: String)]

    public init(extraCAFile: String? = nil, maximumMessageSize: Int = 4 << 20, receiveBufferSize: Int = 256 << 10,
                connectTimeout: Duration = .seconds(10), headers: [(name: String, value: String)] = []) {
        self.extraCAFile = extraCAFile
        self.maximumMessageSize = maximumMessageSize
        self.receiveBufferSize = receiveBufferSize
        self.connectTimeout = connectTimeout
        self.headers = headers
    }
}

public struct WebSocketCounters: Equatable, Sendable {
    public var connects = 0
    public var messages = 0
    public var bytes = 0
    public var pingsAnswered = 0
    public var oversize = 0
    public var protocolErrors = 0
}

/// An RFC 6455 client busy-polled by the one thread that owns it: no event loop, no locks,
/// no allocation per message. `connect()` blocks (with a timeout) through TCP, TLS and the
/// upgrade; after that every `poll` does at most one socket read and delivers what completed.
/// On any thrown error the connection is already closed: count it, back off, `connect()` again.
public final class WebSocketClient {
    public enum State: Sendable { case disconnected, open, closing }

    public let endpoint: Endpoint
    public let options: WebSocketClientOptions
    public private(set) var state = State.disconnected
    public private(set) var counters = WebSocketCounters()
    /// Where the latest read's timestamp came from (kernel software stamps on TCP and TLS alike).
    public private(set) var receiveTimestampSource: ReceiveTimestampSource?

    private let tls: TLSContext?
    private let reader: WebSocketFrameReader
    private let outbound = OutboundBuffer(capacity: 16 << 10)
    private var connection: TCPConnection?
    private var lastStamp = ReceiveTimestamp(nanoseconds: 0, source: .userspaceRealtime)
    /// CLOCK_REALTIME when the last read that returned bytes came back: with the kernel's
    /// receive stamp it splits a message's latency into the socket's share and the process's.
    public private(set) var lastReadTime: UInt64 = 0
    private var maskKeys = SystemRandomNumberGenerator()

    public init(url: String, options: WebSocketClientOptions = WebSocketClientOptions()) throws(TransportError) {
        endpoint = try Endpoint(url: url)
        guard endpoint.scheme == .ws || endpoint.scheme == .wss else { throw .invalidURL(url) }
        self.options = options
        tls = endpoint.scheme.usesTLS ? try TLSContext.client(extraCAFile: options.extraCAFile) : nil
        reader = WebSocketFrameReader(maximumMessageSize: options.maximumMessageSize,
                                      readChunk: options.receiveBufferSize, fromClient: false)
    }

    deinit { connection?.close() }

    /// Connects (TCP, TLS with verification, HTTP upgrade) within `options.connectTimeout`.
    /// Any previous connection is dropped first.
    public func connect() throws(TransportError) {
        disconnect()
        let deadline = Deadline(after: options.connectTimeout)
        let connection = try TCPConnection.connect(host: endpoint.host, port: endpoint.port, tls: tls, deadline: deadline)
        do throws(TransportError) {
            let key = try WebSocketHandshake.makeKey()
            let request = WebSocketHandshake.request(for: endpoint, key: key, headers: options.headers)
            try connection.writeAll(request, until: deadline, doing: "WebSocket upgrade")
            while true {
                let count = try connection.readSome(into: reader.writableTail(), until: deadline, doing: "WebSocket upgrade")
                if count == 0 { throw .handshakeRejected("connection closed before the upgrade response") }
                reader.didWrite(count)
                if let head = try HTTPHead.parse(reader.unparsedBytes) {
                    try WebSocketHandshake.validate(response: head, key: key)
                    reader.consume(head.length)  // frames may follow the head in the same read
                    break
                }
            }
        } catch {
            connection.close()
            reader.reset()
            throw error
        }
        self.connection = connection
        state = .open
        counters.connects += 1
    }

    /// One read from the socket, then every complete message, pong and close is handed to
    /// `handler`; pings are answered with pongs on the spot. Returns how many events it delivered.
    @discardableResult
    public func poll(_ handler: (WebSocketEvent) -> Void) throws(TransportError) -> Int {
        guard let connection else { throw .connectionClosed }
        do throws(TransportError) {
            if _slowPath(!outbound.isEmpty) { try outbound.flush(to: connection) }
            switch try connection.read(into: reader.writableTail()) {
            case .bytes(let count, let stamp):
                lastReadTime = ctw_realtime_ns()
                reader.didWrite(count)
                lastStamp = stamp
                receiveTimestampSource = stamp.source
            case .wouldBlock:
                if reader.unparsedBytes.isEmpty { return 0 }
            case .endOfStream:
                throw .connectionClosed
            }
            return try deliverFrames(to: handler)
        } catch {
            fail(with: error)
            throw error
        }
    }

    public func sendText(_ bytes: UnsafeRawBufferPointer) throws(TransportError) {
        try send(.text, bytes)
    }

    public func sendBinary(_ bytes: UnsafeRawBufferPointer) throws(TransportError) {
        try send(.binary, bytes)
    }

    public func sendPing(_ payload: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) throws(TransportError) {
        try send(.ping, UnsafeRawBufferPointer(rebasing: payload.prefix(125)))
    }

    /// Starts the close handshake; keep polling until `.closed` arrives with the server's echo.
    public func close(code: UInt16 = WebSocketCloseCode.normal) throws(TransportError) {
        guard state == .open else { return }
        try sendClose(code: code)
        state = .closing
    }

    /// Drops the connection without a close handshake.
    public func disconnect() {
        connection?.close()
        connection = nil
        state = .disconnected
        reader.reset()
        outbound.consume(outbound.count)
    }

    // MARK: internals

    private func deliverFrames(to handler: (WebSocketEvent) -> Void) throws(TransportError) -> Int {
        var events = 0
        while let frame = try reader.nextFrame() {
            switch frame {
            case .text(let payload):
                counters.messages += 1
                counters.bytes += payload.count
                handler(.text(payload, lastStamp))
            case .binary(let payload):
                counters.messages += 1
                counters.bytes += payload.count
                handler(.binary(payload, lastStamp))
            case .ping(let payload):
                try send(.pong, payload)
                counters.pingsAnswered += 1
                continue
            case .pong(let payload):
                handler(.pong(payload, lastStamp))
            case .close(let code, let reason):
                if state == .open {  // server-initiated: echo its code (RFC 6455 §5.5.1)
                    try? sendClose(code: code == WebSocketCloseCode.noStatus ? nil : code)
                }
                disconnect()
                handler(.closed(code: code, reason: reason))
                return events + 1
            }
            events += 1
        }
        return events
    }

    private func sendClose(code: UInt16?) throws(TransportError) {
        guard let code else { return try send(.close, UnsafeRawBufferPointer(start: nil, count: 0)) }
        var payload = code.bigEndian
        try withUnsafeBytes(of: &payload) { bytes throws(TransportError) in try send(.close, bytes) }
    }

    /// Masks and queues one frame, then writes as much as the socket takes.
    private func send(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer) throws(TransportError) {
        guard let connection else { throw .connectionClosed }
        let maskKey = UInt32(truncatingIfNeeded: maskKeys.next())
        let frame = outbound.reserve(WebSocketFrameHeader.maximumLength + payload.count)
        let headerLength = WebSocketFrameHeader.encode(opcode: opcode, payloadLength: payload.count, maskKey: maskKey, into: frame)
        if let source = payload.baseAddress {
            WebSocketMasking.apply(maskKey: maskKey, from: source, to: frame + headerLength, count: payload.count)
        }
        outbound.commit(headerLength + payload.count)
        try outbound.flush(to: connection)
    }

    /// Counts the failure, tells the server why when the protocol gives a code, and closes.
    private func fail(with error: TransportError) {
        switch error {
        case .protocolError:
            counters.protocolErrors += 1
            try? sendClose(code: WebSocketCloseCode.protocolError)
        case .oversize:
            counters.oversize += 1
            try? sendClose(code: WebSocketCloseCode.messageTooBig)
        default:
            break
        }
        disconnect()
    }
}

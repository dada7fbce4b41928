/// HTTP/1.1 GET for REST snapshots (Binance depth), off the hot path, over Tickwire's own
/// TCP + OpenSSL code. Not URLSession: on Linux, swift-corelibs-foundation gives libcurl only
/// the system CA bundle (its `URLSessionCertificateAuthorityInfoFile` override is compiled
/// for Android only) and cannot evaluate server trust per request, so it could not trust the
/// simulator's generated CA without weakening verification. This client verifies exactly like
/// the WebSocket client: system store plus the optional extra CA file, host name checked.
public enum RestResponse: Equatable, Sendable {
    /// 2xx with its body.
    case ok(status: Int, body: [UInt8])
    /// 429 or 418 (Binance's ban): back off, for `retryAfter` when the server said so.
    case rateLimited(status: Int, retryAfter: Duration?)
    /// Any other status, with its body (the venue's error JSON).
    case failed(status: Int, body: [UInt8])
}

public final class RestClient {
    public let extraCAFile: String?
    public let timeout: Duration
    public let maximumBodySize: Int
    private var tls: TLSContext?

    public init(extraCAFile: String? = nil, timeout: Duration = .seconds(10), maximumBodySize: Int = 64 << 20) {
        self.extraCAFile = extraCAFile
        self.timeout = timeout
        self.maximumBodySize = maximumBodySize
    }

    /// GETs `url` (http:// or https://); the whole exchange must finish within `timeout`.
    public func get(_ url: String, headers: [(name: String, value: String)] = []) throws(TransportError) -> RestResponse {
        let endpoint = try Endpoint(url: url)
        guard endpoint.scheme == .http || endpoint.scheme == .https else { throw .invalidURL(url) }
        let deadline = Deadline(after: timeout)
        let connection = try TCPConnection.connect(host: endpoint.host, port: endpoint.port,
                                                   tls: endpoint.scheme.usesTLS ? try tlsContext() : nil, deadline: deadline)
        defer { connection.close() }
        var request = "GET \(endpoint.target) HTTP/1.1\r\nHost: \(endpoint.hostHeader)\r\n"
        request += "User-Agent: tickwire\r\nAccept: application/json\r\nAccept-Encoding: identity\r\nConnection: close\r\n"
        for header in headers { request += "\(header.name): \(header.value)\r\n" }
        try connection.writeAll(Array((request + "\r\n").utf8), until: deadline, doing: "HTTP request to \(endpoint.host)")

        var stream = ResponseStream(connection: connection, deadline: deadline, limit: HTTPHead.maximumLength + maximumBodySize)
        let head = try stream.readHead()
        guard let status = Int(head.startLine.1), head.startLine.0.hasPrefix("HTTP/1.") else {
            throw .malformedHTTP("status line '\(head.startLine.0) \(head.startLine.1)'")
        }
        let body: [UInt8]
        if head.header("transfer-encoding", contains: "chunked") {
            body = try stream.readChunkedBody()
        } else if let lengthText = head.header("content-length") {
            guard let length = Int(lengthText), length >= 0 else { throw .malformedHTTP("Content-Length '\(lengthText)'") }
            body = try stream.readBody(length: length)
        } else {
            body = try stream.readToEnd()
        }
        switch status {
        case 200..<300: return .ok(status: status, body: body)
        case 429, 418: return .rateLimited(status: status, retryAfter: head.header("retry-after").flatMap(Int64.init).map { .seconds($0) })
        default: return .failed(status: status, body: body)
        }
    }

    private func tlsContext() throws(TransportError) -> TLSContext {
        if let tls { return tls }
        let context = try TLSContext.client(extraCAFile: extraCAFile)
        tls = context
        return context
    }
}

/// The bytes of one HTTP response as they arrive, consumed front to back.
private struct ResponseStream {
    let connection: TCPConnection
    let deadline: Deadline
    let limit: Int
    var received: [UInt8] = []
    var position = 0
    private var chunk = [UInt8](repeating: 0, count: 64 << 10)

    init(connection: TCPConnection, deadline: Deadline, limit: Int) {
        self.connection = connection
        self.deadline = deadline
        self.limit = limit
    }

    /// Reads more; false at end of stream.
    mutating func fill() throws(TransportError) -> Bool {
        guard received.count < limit else { throw .malformedHTTP("response larger than \(limit) bytes") }
        let connection = connection, deadline = deadline
        let count = try chunk.withUnsafeMutableBytes { buffer in
            Result { () throws(TransportError) in try connection.readSome(into: buffer, until: deadline, doing: "HTTP response") }
        }.get()
        received += chunk[..<count]
        return count > 0
    }

    mutating func readHead() throws(TransportError) -> HTTPHead {
        while true {
            if let head = try received.withUnsafeBytes({ bytes in Result { () throws(TransportError) in try HTTPHead.parse(bytes) } }).get() {
                position = head.length
                return head
            }
            guard try fill() else { throw .malformedHTTP("connection closed inside the response head") }
        }
    }

    mutating func readBody(length: Int) throws(TransportError) -> [UInt8] {
        while received.count - position < length {
            guard try fill() else { throw .malformedHTTP("body ended after \(received.count - position) of \(length) bytes") }
        }
        defer { position += length }
        return Array(received[position..<position + length])
    }

    mutating func readToEnd() throws(TransportError) -> [UInt8] {
        while try fill() {}
        defer { position = received.count }
        return Array(received[position...])
    }

    /// Chunked transfer coding (RFC 9112 §7.1): hex size lines, data, and a final 0 chunk.
    mutating func readChunkedBody() throws(TransportError) -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let sizeLine = try readLine()
            let sizeText = sizeLine.prefix { $0 != ";" }.trimmingSpaces
            guard let size = Int(sizeText, radix: 16), size >= 0 else { throw .malformedHTTP("chunk size '\(sizeLine)'") }
            if size == 0 {
                while try !readLine().isEmpty {}  // trailers up to the blank line
                return body
            }
            body += try readBody(length: size)
            guard try readLine().isEmpty else { throw .malformedHTTP("chunk not followed by CRLF") }
        }
    }

    private mutating func readLine() throws(TransportError) -> String {
        while true {
            if let end = received[position...].firstIndex(of: 10) {
                let lineEnd = end > position && received[end - 1] == 13 ? end - 1 : end
                defer { position = end + 1 }
                return String(decoding: received[position..<lineEnd], as: UTF8.self)
            }
            guard try fill() else { throw .malformedHTTP("connection closed inside a chunked body") }
        }
    }
}

private extension StringProtocol {
    var trimmingSpaces: String { trimmed(Substring(self)) }
}

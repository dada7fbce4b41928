import CTickwire

/// The RFC 6455 opening handshake (HTTP/1.1 upgrade), both sides. Set-up only.
enum WebSocketHandshake {
    /// A fresh Sec-WebSocket-Key: 16 random bytes, base64.
    static func makeKey() throws(TransportError) -> String {
        var nonce = [UInt8](repeating: 0, count: 16)
        guard ctw_random_bytes(&nonce, nonce.count) == 1 else { throw .tls("RAND_bytes failed") }
        var encoded = [CChar](repeating: 0, count: 25)
        ctw_base64_encode(nonce, nonce.count, &encoded)
        return String(nulTerminated: encoded)
    }

    /// Sec-WebSocket-Accept for `key`: base64(SHA-1(key + GUID)).
    static func acceptValue(for key: String) -> String {
        var accept = [CChar](repeating: 0, count: 29)
        let utf8 = Array(key.utf8)
        guard utf8.withUnsafeBufferPointer({ buffer in
            buffer.withMemoryRebound(to: CChar.self) { ctw_websocket_accept($0.baseAddress, $0.count, &accept) }
        }) == 1 else { return "" }
        return String(nulTerminated: accept)
    }

    /// The client's upgrade request. Offers no extensions (no permessage-deflate).
    static func request(for endpoint: Endpoint, key: String, headers: [(name: String, value: String)]) -> [UInt8] {
        var text = "GET \(endpoint.target) HTTP/1.1\r\n"
        text += "Host: \(endpoint.hostHeader)\r\n"
        text += "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        text += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        for header in headers { text += "\(header.name): \(header.value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    /// Checks the server's answer to our upgrade request.
    static func validate(response head: HTTPHead, key: String) throws(TransportError) {
        guard head.startLine.1 == "101" else {
            throw .handshakeRejected("HTTP \(head.startLine.1) \(head.startLine.2)")
        }
        guard head.header("upgrade")?.lowercased() == "websocket", head.header("connection", contains: "upgrade") else {
            throw .handshakeRejected("response lacks 'Upgrade: websocket' / 'Connection: Upgrade'")
        }
        guard head.header("sec-websocket-accept") == acceptValue(for: key) else {
            throw .handshakeRejected("Sec-WebSocket-Accept does not match our key")
        }
        // We offer no extension, so any extension in the answer is one we cannot speak.
        if let extensions = head.header("sec-websocket-extensions"), !extensions.isEmpty {
            throw .extensionNotSupported(extensions)
        }
    }

    /// The server's 101 answer, or nil when `request` is not a valid WebSocket upgrade.
    static func response(to request: HTTPHead, extraHeaders: [(name: String, value: String)]) -> [UInt8]? {
        guard request.startLine.0 == "GET",
              request.header("upgrade")?.lowercased() == "websocket",
              request.header("sec-websocket-version") == "13",
              let key = request.header("sec-websocket-key") else { return nil }
        var text = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        text += "Sec-WebSocket-Accept: \(acceptValue(for: key))\r\n"
        for header in extraHeaders { text += "\(header.name): \(header.value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    /// Whether `request` asks for a WebSocket upgrade at all (else it is a plain HTTP request).
    static func isUpgrade(_ request: HTTPHead) -> Bool {
        request.header("upgrade") != nil || request.header("connection", contains: "upgrade")
    }
}

/// The head of an HTTP/1.1 request or response: start line and headers. Parsed only at
/// set-up (upgrade handshake, REST snapshot, simulator requests), so it may allocate.
struct HTTPHead {
    /// The three space-separated parts of the start line, e.g. ("HTTP/1.1", "101", "Switching Protocols")
    /// or ("GET", "/api/v3/depth?symbol=ETHUSDT", "HTTP/1.1").
    var startLine: (String, String, String)
    /// Header names lowercased, values trimmed, in arrival order.
    var headers: [(name: String, value: String)]
    /// Bytes of the head including the blank line; what follows is the body or WebSocket frames.
    var length: Int

    static let maximumLength = 64 * 1024

    /// Parses a head from the start of `bytes`; nil while "\r\n\r\n" has not arrived.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(TransportError) -> HTTPHead? {
        guard let end = headEnd(bytes) else {
            if bytes.count > maximumLength { throw .malformedHTTP("head longer than \(maximumLength) bytes") }
            return nil
        }
        let text = String(decoding: bytes[..<end], as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { throw .malformedHTTP("empty head") }
        let start = lines.removeFirst().split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard start.count >= 2 else { throw .malformedHTTP("start line '\(start.joined(separator: " "))'") }
        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw .malformedHTTP("header line '\(line)'") }
            headers.append((line[..<colon].lowercased(), trimmed(line[line.index(after: colon)...])))
        }
        return HTTPHead(startLine: (String(start[0]), String(start[1]), start.count > 2 ? String(start[2]) : ""),
                        headers: headers, length: end + 4)
    }

    /// The first value of header `name` (lowercase).
    func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }

    /// True when the comma-separated header `name` lists `token` (case-insensitive).
    func header(_ name: String, contains token: String) -> Bool {
        headers.contains { header in
            header.name == name && header.value.split(separator: ",").contains { trimmed($0).lowercased() == token }
        }
    }

    /// Index of the "\r\n\r\n" that ends the head.
    private static func headEnd(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// `text` without leading and trailing spaces and tabs.
func trimmed(_ text: Substring) -> String {
    let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    guard let first = text.firstIndex(where: { !isBlank($0) }), let last = text.lastIndex(where: { !isBlank($0) }) else {
        return ""
    }
    return String(text[first...last])
}

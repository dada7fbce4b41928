/// Where to connect, parsed from a `ws://`, `wss://`, `http://` or `https://` URL.
public struct Endpoint: Equatable, Sendable {
    public enum Scheme: String, Sendable {
        case ws, wss, http, https

        public var usesTLS: Bool { self == .wss || self == .https }
        public var defaultPort: UInt16 { usesTLS ? 443 : 80 }
    }

    public var scheme: Scheme
    /// Host name or IP literal, without IPv6 brackets: what DNS, SNI and certificate checks use.
    public var host: String
    public var port: UInt16
    /// Path and query, as sent in the request line ("/" when the URL has none).
    public var target: String

    public init(url: String) throws(TransportError) {
        guard let schemeEnd = url.firstRange(of: "://"),
              let scheme = Scheme(rawValue: url[..<schemeEnd.lowerBound].lowercased()) else {
            throw .invalidURL(url)
        }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let target = rest[authorityEnd...]
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw .invalidURL(url) }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let afterBracket = authority[authority.index(after: close)...]
            if afterBracket.hasPrefix(":") { portText = afterBracket.dropFirst() } else if !afterBracket.isEmpty { throw .invalidURL(url) }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty, !host.contains("@") else { throw .invalidURL(url) }
        var port = scheme.defaultPort
        if let portText {
            guard let parsed = UInt16(portText), parsed != 0 else { throw .invalidURL(url) }
            port = parsed
        }
        self.scheme = scheme
        self.host = String(host)
        self.port = port
        self.target = target.isEmpty ? "/" : (target.hasPrefix("?") ? "/" + target : String(target))
    }

    /// The Host header value: brackets around IPv6 literals, the port unless it is the default.
    public var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == scheme.defaultPort ? name : "\(name):\(port)"
    }
}

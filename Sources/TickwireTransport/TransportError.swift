import TickwireSystem

/// Why a transport operation failed. Every failure is one of these: the caller counts it and,
/// for a live connection, reconnects with backoff.
public enum TransportError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A socket call failed (connect, recv, send, poll, ...).
    case system(SystemError)
    /// OpenSSL said no; the text is its error queue (ERR_error_string_n), e.g.
    /// "TLS handshake failed: error:0A000086:SSL routines::certificate verify failed (certificate: ...)".
    case tls(String)
    case invalidURL(String)
    case addressResolution(host: String, reason: String)
    /// `what` did not finish before its deadline (connect, TLS or HTTP handshake, response).
    case timedOut(String)
    /// The peer closed the TCP stream (without a WebSocket close frame where one was due).
    case connectionClosed
    /// The HTTP upgrade answer was not an acceptable `101 Switching Protocols`.
    case handshakeRejected(String)
    /// The server insisted on a WebSocket extension (e.g. permessage-deflate) we never offer.
    case extensionNotSupported(String)
    /// The peer broke RFC 6455; we sent close 1002.
    case protocolError(WebSocketProtocolError)
    /// A message exceeded the configured maximum; we sent close 1009.
    case oversize(limit: Int)
    /// An HTTP message we could not parse.
    case malformedHTTP(String)

    public var description: String {
        switch self {
        case .system(let error): return error.description
        case .tls(let message): return message
        case .invalidURL(let url): return "invalid URL: \(url)"
        case .addressResolution(let host, let reason): return "cannot resolve \(host): \(reason)"
        case .timedOut(let what): return "\(what) timed out"
        case .connectionClosed: return "connection closed by peer"
        case .handshakeRejected(let why): return "WebSocket handshake rejected: \(why)"
        case .extensionNotSupported(let value):
            return "server insists on WebSocket extension '\(value)', which Tickwire never offers (permessage-deflate is not supported)"
        case .protocolError(let error): return "WebSocket protocol error: \(error)"
        case .oversize(let limit): return "WebSocket message larger than \(limit) bytes"
        case .malformedHTTP(let why): return "malformed HTTP: \(why)"
        }
    }
}

/// `syscall` for transport code: the same errno handling, the error lifted into `TransportError`.
@inline(__always)
@discardableResult
func transportSyscall<T: FixedWidthInteger>(_ function: StaticString, _ body: () -> T) throws(TransportError) -> T {
    do throws(SystemError) {
        return try syscall(function, body)
    } catch {
        throw .system(error)
    }
}

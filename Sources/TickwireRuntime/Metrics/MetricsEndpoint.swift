import TickwireTransport

/// Where the metrics endpoint listens: an IPv4 address and a TCP port (0: any free port).
public struct MetricsEndpoint: Equatable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var port: UInt16

    /// Loopback only unless told otherwise: the endpoint has no authentication.
    public static let defaultEndpoint = MetricsEndpoint(address: IPv4Address(0x7F00_0001), port: 9464)

    public init(address: IPv4Address, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// "HOST:PORT" with a dotted-quad host ("0.0.0.0:9464", "127.0.0.1:0"), or a bare "PORT"
    /// meaning 127.0.0.1. `option` names the flag or key in the error.
    public init(parsing text: String, option: String = "--metrics") throws(MetricsEndpointError) {
        let host: Substring, portText: Substring
        if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = "127.0.0.1"
            portText = text[...]
        }
        guard let address = IPv4Address(String(host)), let port = UInt16(portText) else {
            throw MetricsEndpointError(description: "\(option): expected HOST:PORT (an IPv4 address and a port 0-65535) or PORT, got '\(text)'")
        }
        self.init(address: address, port: port)
    }

    public var description: String { "\(address):\(port)" }
}

public struct MetricsEndpointError: Error, Equatable, CustomStringConvertible {
    public let description: String
}

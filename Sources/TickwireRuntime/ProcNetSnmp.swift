/// The host's UDP error counters since boot, for this network namespace: what `netstat -s`
/// and `nstat` read from /proc/net/snmp (IPv4) and /proc/net/snmp6 (IPv6).
public struct UdpErrorCounters: Equatable, Sendable {
    /// Datagrams dropped because a socket's receive buffer was full.
    public var receiveBufferErrors: UInt64
    /// Datagrams not sent because a socket's send buffer was full.
    public var sendBufferErrors: UInt64
    /// All datagrams dropped on receive (buffer errors, bad checksums, …).
    public var inErrors: UInt64

    public init(receiveBufferErrors: UInt64, sendBufferErrors: UInt64, inErrors: UInt64) {
        self.receiveBufferErrors = receiveBufferErrors
        self.sendBufferErrors = sendBufferErrors
        self.inErrors = inErrors
    }

    public var isClean: Bool { receiveBufferErrors == 0 && sendBufferErrors == 0 && inErrors == 0 }

    /// /proc/net/snmp: a `Udp:` line of counter names followed by a `Udp:` line of values.
    public init?(snmp text: String) {
        let lines = text.split(separator: "\n").filter { $0.hasPrefix("Udp: ") }
        guard lines.count >= 2 else { return nil }
        let names = lines[0].split(separator: " ").dropFirst()
        let values = lines[1].split(separator: " ").dropFirst()
        guard names.count == values.count else { return nil }
        self.init(counters: Dictionary(zip(names.map(String.init), values.map { UInt64($0) }), uniquingKeysWith: { a, _ in a }))
    }

    /// /proc/net/snmp6: one `Udp6Name value` pair per line.
    public init?(snmp6 text: String) {
        var counters: [String: UInt64?] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("Udp6") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2 else { continue }
            counters[String(fields[0].dropFirst("Udp6".count))] = UInt64(fields[1])
        }
        self.init(counters: counters)
    }

    private init?(counters: [String: UInt64?]) {
        guard let receive = counters["RcvbufErrors"] ?? nil, let send = counters["SndbufErrors"] ?? nil,
              let inErrors = counters["InErrors"] ?? nil
        else { return nil }
        self.init(receiveBufferErrors: receive, sendBufferErrors: send, inErrors: inErrors)
    }

    public var summary: String { "RcvbufErrors \(receiveBufferErrors), SndbufErrors \(sendBufferErrors), InErrors \(inErrors)" }
}

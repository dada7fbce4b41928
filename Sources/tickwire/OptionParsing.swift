import TickwireTransport

/// An integer option's value: `defaultValue` when absent, else the text as an integer within
/// `range`, or the usage error `fail` reports (it exits).
func integerOption<Value: FixedWidthInteger>(
    _ text: String?, _ option: String, in range: ClosedRange<Value>, default defaultValue: Value, fail: (String) -> Never
) -> Value {
    guard let text else { return defaultValue }
    guard let value = Value(text), range.contains(value) else {
        fail("\(option): expected an integer in \(range.lowerBound)...\(range.upperBound) (got '\(text)')")
    }
    return value
}

/// A GROUP:PORT (multicast) or HOST:PORT option's value: nil when absent, else the IPv4
/// endpoint, or the usage error `fail` reports (it exits).
func endpointOption(_ text: String?, _ option: String, multicast: Bool, fail: (String) -> Never) -> UdpEndpoint? {
    guard let text else { return nil }
    guard let endpoint = UdpEndpoint(text) else {
        fail("\(option): expected \(multicast ? "GROUP" : "HOST"):PORT with an IPv4 address and a port 1...65535 (got '\(text)')")
    }
    if multicast && !endpoint.address.isMulticast { fail("\(option): \(endpoint.address) is not a multicast group (224.0.0.0/4)") }
    return endpoint
}

/// A channel's line A, line B and snapshot groups: distinct, or the usage error `fail` reports.
func channelGroups(
    _ lineA: String, _ lineB: String?, _ snapshot: String?, fail: (String) -> Never
) -> (lineA: UdpEndpoint, lineB: UdpEndpoint?, snapshot: UdpEndpoint?) {
    let groups = (endpointOption(lineA, "--channel", multicast: true, fail: fail)!,
                  endpointOption(lineB, "--channel-b", multicast: true, fail: fail),
                  endpointOption(snapshot, "--snapshot", multicast: true, fail: fail))
    let all = [groups.0, groups.1, groups.2].compactMap { $0 }
    if Set(all).count != all.count { fail("--channel, --channel-b and --snapshot must be different group:port pairs") }
    return groups
}

/// Commands parse their own options (so every mistake is a specific usage error, exit 2):
/// anything the parser did not recognize is reported here through `fail`.
func rejectUnrecognized(_ arguments: [String], fail: (String) -> Never) {
    guard let extra = arguments.first else { return }
    fail(extra.hasPrefix("-") ? "unknown option '\(extra)'" : "unexpected argument '\(extra)'")
}

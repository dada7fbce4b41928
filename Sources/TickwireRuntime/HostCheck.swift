/// One finding about the host: what was checked, how it stands, what was found and, when it
/// falls short, the one thing to do about it. `tickwire doctor` prints these; the daemon
/// logs them at start.
public struct HostCheck: Sendable, Equatable, CustomStringConvertible {
    public enum Status: String, Sendable {
        /// As Tickwire wants it.
        case pass
        /// Tickwire runs, with a fallback or higher latency.
        case warn
        /// Tickwire cannot run as built or as asked (e.g. the CPU lacks an instruction set it was compiled for).
        case fail
    }

    public let name: String
    public let status: Status
    public let found: String
    /// Set exactly when `status` is not `.pass`.
    public let remedy: String?

    public static func pass(_ name: String, _ found: String) -> HostCheck {
        HostCheck(name: name, status: .pass, found: found, remedy: nil)
    }

    public static func warn(_ name: String, _ found: String, remedy: String) -> HostCheck {
        HostCheck(name: name, status: .warn, found: found, remedy: remedy)
    }

    public static func fail(_ name: String, _ found: String, remedy: String) -> HostCheck {
        HostCheck(name: name, status: .fail, found: found, remedy: remedy)
    }

    /// "WARN  name: found" and, for warn/fail, "      remedy: …" on a second line.
    public var description: String {
        let head = status.rawValue.uppercased().padding(to: 6) + name + ": " + found
        guard let remedy else { return head }
        return head + "\n" + "".padding(to: 6) + "remedy: " + remedy
    }

    /// One JSON object: {"check":…,"status":…,"found":…,"remedy":…} (remedy only when set).
    public var json: String {
        var fields = [("check", name), ("status", status.rawValue), ("found", found)]
        if let remedy { fields.append(("remedy", remedy)) }
        return "{" + fields.map { "\(JSONText.quoted($0.0)):\(JSONText.quoted($0.1))" }.joined(separator: ",") + "}"
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}

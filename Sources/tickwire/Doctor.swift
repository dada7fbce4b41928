import ArgumentParser
import TickwireRuntime

/// Reports what this host gives the hot path (HostChecks): one line per check with
/// PASS/WARN/FAIL, and a remedy line under each WARN and FAIL. Exits 1 when any check fails.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check what this host offers the hot path, with remedies.")

    @Option(name: .customLong("iface"), help: "Network interface to check (default: the default route's).")
    var interface: String?

    @Flag(help: "One JSON object per check instead of text.")
    var json = false

    func run() throws {
        let checks = HostChecks.all(interface: interface)
        for check in checks { print(json ? check.json : check.description) }
        if checks.contains(where: { $0.status == .fail }) { throw ExitCode(1) }
    }
}

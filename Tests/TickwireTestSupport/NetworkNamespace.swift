import CTickwire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// True when the tests run as root (network namespaces, veth, AF_XDP and BPF need it).
public let runningAsRoot = geteuid() == 0

/// For tests that need root: returns true when root; otherwise prints one line saying which
/// test skipped and why, and returns false (`guard requireRoot("…") else { return }`).
public func requireRoot(_ test: String, function: String = #function) -> Bool {
    if runningAsRoot { return true }
    print("skipped \(function): \(test) needs root (network namespaces, veth, AF_XDP); running as euid \(geteuid())")
    return false
}

/// Two network namespaces joined by a veth pair, created for one test and always torn down
/// (in `deinit`, or earlier with `tearDown()`): traffic stays between them.
///
/// Side `a` (10.77.N.1/24) is where the code under test usually runs, side `b` (10.77.N.2/24)
/// the peer. Both have a 224.0.0.0/4 route on their veth, so multicast works without
/// IP_MULTICAST_IF. Sockets keep the namespace they were created in: create them inside
/// `run(in:_:)` and use them from any thread afterwards. Inside a namespace thread read
/// `/proc/thread-self/net/...` (`/proc/self/net` follows the process's main thread).
public final class VethNamespacePair: @unchecked Sendable {
    /// One end: its namespace, interface and address.
    public struct Side: Sendable, CustomStringConvertible {
        public let namespace: String
        public let interface: String
        /// Dotted quad without prefix, e.g. "10.77.3.1".
        public let address: String
        public var description: String { "\(interface)@\(namespace) \(address)" }
    }

    public let a: Side
    public let b: Side
    public let mtu: Int
    private var torn = false

    nonisolated(unsafe) private static var created = 0
    private static let createdLock = NSLock()

    /// Creates the namespaces and the veth pair, with addresses, MTU and multicast routes.
    /// Throws (after removing whatever it made) when any `ip` command fails.
    public init(mtu: Int = 1500) throws {
        let serial = Self.createdLock.withLock {
            if Self.created == 0 { Self.removeLeftovers() }
            Self.created += 1
            return Self.created
        }
        // Interface names must fit IFNAMSIZ (15): "tw" + pid (≤ 7 digits) + serial + side does.
        let tag = "\(getpid())x\(serial % 1000)"
        let subnet = "10.77.\(serial % 250 + 1)"
        a = Side(namespace: "tickwire-\(tag)-a", interface: "tw\(tag)a", address: "\(subnet).1")
        b = Side(namespace: "tickwire-\(tag)-b", interface: "tw\(tag)b", address: "\(subnet).2")
        self.mtu = mtu
        do {
            try runCommand(["ip", "netns", "add", a.namespace])
            try runCommand(["ip", "netns", "add", b.namespace])
            try runCommand(["ip", "link", "add", a.interface, "netns", a.namespace, "mtu", "\(mtu)", "type", "veth",
                              "peer", "name", b.interface, "netns", b.namespace, "mtu", "\(mtu)"])
            for side in [a, b] {
                try runCommand(["ip", "-n", side.namespace, "addr", "add", "\(side.address)/24", "dev", side.interface])
                try runCommand(["ip", "-n", side.namespace, "link", "set", "lo", "up"])
                try runCommand(["ip", "-n", side.namespace, "link", "set", side.interface, "up"])
                try runCommand(["ip", "-n", side.namespace, "route", "add", "224.0.0.0/4", "dev", side.interface])
            }
        } catch {
            tearDown()
            throw error
        }
    }

    deinit { tearDown() }

    /// Deletes both namespaces (which deletes the veth pair, qdiscs and XDP programs on it).
    /// Safe to call more than once.
    public func tearDown() {
        guard !torn else { return }
        torn = true
        for side in [a, b] { _ = try? runCommand(["ip", "netns", "del", side.namespace]) }
    }

    /// Deletes the namespaces of earlier test processes that died before their teardown
    /// (a crash or a kill skips deinit): "tickwire-PIDxN-a/b" whose PID no longer runs.
    private static func removeLeftovers() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/run/netns") else { return }
        for name in names where name.hasPrefix("tickwire-") {
            let pidText = name.dropFirst("tickwire-".count).prefix { $0.isNumber }
            guard let pid = pid_t(pidText), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            _ = try? runCommand(["ip", "netns", "del", name])
        }
    }

    /// Runs `body` on a fresh thread that has entered `side`'s network namespace (setns),
    /// and waits for it. The calling thread's namespace never changes.
    public func run<T>(in side: Side, _ body: () throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { escapable in
            let call = NamespaceCall(namespace: side.namespace, body: escapable)
            let thread = Thread { call.execute() }
            thread.start()
            call.done.wait()
            return try call.result!.get()
        }
    }

    /// Runs a command inside `side`'s namespace (`ip netns exec`); returns its standard output,
    /// throws `CommandFailure` on a non-zero exit.
    @discardableResult
    public func execute(in side: Side, _ arguments: [String]) throws -> String {
        try runCommand(["ip", "netns", "exec", side.namespace] + arguments)
    }

    /// Drops `percent` % (a whole number) of the UDP datagrams arriving in `side`'s namespace,
    /// or only of those sent to `group`: nftables' `numgen random` in prerouting (this kernel
    /// has no netem qdisc). The rules go with the namespace.
    public func addLoss(percent: Int, arrivingAt side: Side, onlyTo group: String? = nil) throws {
        precondition((1...100).contains(percent), "loss percent must be 1...100")
        try execute(in: side, ["nft", "add", "table", "ip", "loss"])
        try execute(in: side, ["nft", "add", "chain", "ip", "loss", "in", "{ type filter hook prerouting priority -300 ; }"])
        let match = group.map { ["ip", "daddr", $0] } ?? ["udp", "dport", "1-65535"]
        try execute(in: side, ["nft", "add", "rule", "ip", "loss", "in"] + match + ["numgen", "random", "mod", "100", "<", "\(percent)", "drop"])
    }

}

/// A setns error: entering the namespace failed with this errno.
public struct NamespaceEntryFailure: Error, CustomStringConvertible {
    public let namespace: String
    public let errno: Int32
    public var description: String { "setns(\(namespace)) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The closure and its result, handed to the namespace thread. The thread drops the closure
/// before signalling: `withoutActuallyEscaping` traps if it outlives `run`.
private final class NamespaceCall<T>: @unchecked Sendable {
    let namespace: String
    private var body: (() throws -> T)?
    let done = DispatchSemaphore(value: 0)
    var result: Result<T, any Error>?

    init(namespace: String, body: @escaping () throws -> T) {
        self.namespace = namespace
        self.body = body
    }

    func execute() {
        result = enterAndRun()
        done.signal()
    }

    private func enterAndRun() -> Result<T, any Error> {
        let body = self.body!
        self.body = nil
        let fd = open("/run/netns/\(namespace)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0, ctw_setns_network(fd) == 0 else {
            let error = errno
            if fd >= 0 { close(fd) }
            return .failure(NamespaceEntryFailure(namespace: namespace, errno: error))
        }
        close(fd)
        return Result { try body() }
    }
}

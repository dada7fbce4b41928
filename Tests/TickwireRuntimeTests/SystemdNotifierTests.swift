import Testing
import TickwireSystem
import TickwireTestSupport
@testable import TickwireRuntime

#if canImport(Glibc)
import Glibc
#endif

// The sd_notify protocol against a real AF_UNIX datagram socket the test listens on, as
// systemd does: each call is exactly one datagram with the documented states.

@Suite struct SystemdNotifierTests {
    static func uniqueName() -> String { "tickwire-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" }

    static func exchange(at address: String) throws {
        let listener = try UnixDatagramListener(address: address)
        let notifier = try SystemdNotifier(environment: ["NOTIFY_SOCKET": address], processID: getpid())
        #expect(notifier.isEnabled)

        try notifier.ready(status: "2 venues, 14 books valid")
        #expect(listener.receive() == "READY=1\nSTATUS=2 venues, 14 books valid")
        try notifier.ready()
        #expect(listener.receive() == "READY=1")
        try notifier.status("resyncing binance-spot")
        #expect(listener.receive() == "STATUS=resyncing binance-spot")
        try notifier.watchdog()
        #expect(listener.receive() == "WATCHDOG=1")
        try notifier.stopping()
        #expect(listener.receive() == "STOPPING=1")

        var before = timespec(), after = timespec()
        clock_gettime(CLOCK_MONOTONIC, &before)
        try notifier.reloading()
        clock_gettime(CLOCK_MONOTONIC, &after)
        let reloading = try #require(listener.receive())
        let lines = reloading.split(separator: "\n")
        #expect(lines.count == 2 && lines[0] == "RELOADING=1")
        let stamp = try #require(lines.last.flatMap { $0.hasPrefix("MONOTONIC_USEC=") ? UInt64($0.dropFirst(15)) : nil })
        func microseconds(_ time: timespec) -> UInt64 { UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_nsec) / 1_000 }
        #expect(microseconds(before) <= stamp && stamp <= microseconds(after), "CLOCK_MONOTONIC at the call")
        #expect(listener.receiveQueued() == nil, "one datagram per call")
    }

    @Test func statesArriveAsExactDatagramsOnAPathSocket() throws {
        let directory = try TemporaryDirectory()
        try Self.exchange(at: directory.path + "/notify.sock")
    }

    @Test func statesArriveOnAnAbstractSocketNamedWithAnAtSign() throws {
        try Self.exchange(at: "@" + Self.uniqueName())
    }

    @Test func withoutNotifySocketEveryCallIsANoOp() throws {
        let notifier = try SystemdNotifier(environment: [:], processID: getpid())
        #expect(!notifier.isEnabled)
        #expect(notifier.watchdogInterval == nil)
        try notifier.ready(status: "nobody listens")
        try notifier.watchdog()
        try notifier.reloading()
        try notifier.stopping()
    }

    @Test func watchdogIntervalComesFromWatchdogUsecForThisProcessOnly() throws {
        func interval(_ environment: [String: String]) throws -> Duration? {
            try SystemdNotifier(environment: environment, processID: 4242).watchdogInterval
        }
        #expect(try interval(["WATCHDOG_USEC": "10000000"]) == .seconds(10))
        #expect(try interval(["WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "4242"]) == .seconds(10))
        #expect(try interval(["WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"]) == nil, "meant for another process")
        #expect(try interval(["WATCHDOG_USEC": "0"]) == nil)
        #expect(try interval(["WATCHDOG_USEC": "ten"]) == nil)
    }

    @Test func unreachableSocketIsATypedErrorNotACrash() throws {
        let directory = try TemporaryDirectory()
        let missing = try SystemdNotifier(environment: ["NOTIFY_SOCKET": directory.path + "/absent.sock"], processID: getpid())
        #expect(throws: SystemError("sendto(NOTIFY_SOCKET)", errno: ENOENT)) { try missing.watchdog() }
        let relative = try SystemdNotifier(environment: ["NOTIFY_SOCKET": "notify.sock"], processID: getpid())
        #expect(throws: SystemError("sendto(NOTIFY_SOCKET)", errno: EINVAL)) { try relative.ready() }
    }
}

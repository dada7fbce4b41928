import Logging
import Synchronization
import Testing
import TickwireTestSupport
@testable import TickwireRuntime

#if canImport(Glibc)
import Glibc
#endif

// The health thread pings systemd's watchdog only while every stage beats: real stage
// threads, a real notify socket, and a stage that stops.

/// A thread that beats `heartbeat` in a loop, like a busy-polling stage, until stopped.
final class BeatingStage: @unchecked Sendable {
    let heartbeat: StageHeartbeat
    let running = Atomic<Bool>(true)
    private var thread = pthread_t()

    init(_ heartbeat: StageHeartbeat) {
        self.heartbeat = heartbeat
        let context = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { context in
            let stage = Unmanaged<BeatingStage>.fromOpaque(context!).takeRetainedValue()
            while stage.running.load(ordering: .relaxed) {
                stage.heartbeat.beat()
                sched_yield()
            }
            return nil
        }, context)
    }

    func stop() {
        running.store(false, ordering: .relaxed)
        pthread_join(thread, nil)
    }
}

@Suite struct HealthMonitorTests {
    @Test func beatCountsOnlyForItsOwnStage() {
        let heartbeats = StageHeartbeats(stageNames: ["ingest", "book", "send"])
        let book = heartbeats.heartbeat(forStage: 1)
        for _ in 0..<5 { book.beat() }
        #expect((0..<3).map { heartbeats.progress(ofStage: $0) } == [0, 5, 0])
    }

    @Test func watchdogStopsWhenAStageStopsBeating() throws {
        let listener = try UnixDatagramListener(address: "@tickwire-health-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let notifier = try SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "20000"],
                                           processID: getpid())
        let heartbeats = StageHeartbeats(stageNames: ["ingest", "book"])
        let ingest = BeatingStage(heartbeats.heartbeat(forStage: 0))
        let book = BeatingStage(heartbeats.heartbeat(forStage: 1))
        defer { ingest.stop() }
        let monitor = HealthMonitor(heartbeats: heartbeats, notifier: notifier, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        #expect(monitor.checkInterval == .milliseconds(10), "half of WATCHDOG_USEC")
        monitor.start()
        defer { monitor.stop() }

        for _ in 0..<3 { #expect(listener.receive() == "WATCHDOG=1", "pings while both stages beat") }

        book.stop()
        #expect(waitUntil { monitor.stuckStages == ["book"] }, "the stopped stage is named")
        while listener.receiveQueued() != nil {}  // pings sent before the stop was noticed
        let sent = monitor.watchdogsSent
        let checks = monitor.checksCompleted
        #expect(waitUntil { monitor.checksCompleted >= checks + 3 })
        #expect(listener.receiveQueued() == nil, "no ping while a stage is stuck")
        #expect(monitor.watchdogsSent == sent)
    }
}

import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The health thread behind systemd's watchdog: every `checkInterval` it checks that every
/// stage has beaten since the last check, and only then sends `WATCHDOG=1`. When a stage has
/// not moved, it logs which and withholds the ping, so systemd restarts a wedged pipeline
/// (`WatchdogSec=`) instead of trusting a process whose main thread merely still runs. Pings
/// resume (and a recovery is logged) if every stage moves again before systemd acts.
///
/// A stage must beat while it waits too (idle spins, reconnect backoff); a stage that parks
/// must park for less than `checkInterval`.
public final class HealthMonitor: @unchecked Sendable {
    // @unchecked: mutable state is guarded by `lock`; `thread` is touched by start/stop only.

    public let heartbeats: StageHeartbeats
    public let notifier: SystemdNotifier
    /// Half the watchdog interval by default, as sd_watchdog_enabled(3) advises.
    public let checkInterval: Duration
    private let logger: Logger
    private let lock = ConditionLock()
    private var stopRequested = false
    private var thread: pthread_t?
    private var stuck: [String] = []
    private var checks = 0
    private var pings = 0

    /// `checkInterval` defaults to half of `notifier.watchdogInterval`, or 5 s when systemd set no
    /// watchdog (the monitor then only logs stuck stages).
    public init(heartbeats: StageHeartbeats, notifier: SystemdNotifier, logger: Logger, checkInterval: Duration? = nil) {
        self.heartbeats = heartbeats
        self.notifier = notifier
        self.logger = logger
        self.checkInterval = checkInterval ?? notifier.watchdogInterval.map { $0 / 2 } ?? .seconds(5)
    }

    /// Starts the health thread, which holds the monitor until `stop()`. Call once the stages
    /// run (after READY=1): the first check compares against the counters as they are now.
    public func start() {
        lock.withLock {
            precondition(thread == nil, "HealthMonitor started twice")
            stopRequested = false
        }
        let started = startServiceThread(named: "tw-health") { [self] in run() }
        lock.withLock { thread = started }
    }

    /// Stops and joins the health thread (no further pings). Idempotent.
    public func stop() {
        let running: pthread_t? = lock.withLock {
            stopRequested = true
            lock.signal()
            defer { thread = nil }
            return thread
        }
        if let running { pthread_join(running, nil) }
    }

    /// Names of the stages that did not move in the last check (empty when all are healthy).
    public var stuckStages: [String] { lock.withLock { stuck } }
    /// Checks done so far.
    public var checksCompleted: Int { lock.withLock { checks } }
    /// `WATCHDOG=1` pings sent so far.
    public var watchdogsSent: Int { lock.withLock { pings } }

    private func run() {
        let count = heartbeats.stageNames.count
        var previous = (0..<count).map { heartbeats.progress(ofStage: $0) }
        while true {
            let shouldStop: Bool = lock.withLock {
                let deadline = ConditionLock.deadline(after: checkInterval)
                var now = timespec()
                while !stopRequested {
                    lock.wait(until: deadline)
                    clock_gettime(CLOCK_MONOTONIC, &now)
                    if (now.tv_sec, now.tv_nsec) >= (deadline.tv_sec, deadline.tv_nsec) { break }
                }
                return stopRequested
            }
            if shouldStop { return }
            let current = (0..<count).map { heartbeats.progress(ofStage: $0) }
            let stalled = (0..<count).filter { current[$0] == previous[$0] }.map { heartbeats.stageNames[$0] }
            previous = current
            check(stalled: stalled)
        }
    }

    private func check(stalled: [String]) {
        let wasStuck = lock.withLock { stuck }
        var pinged = false
        if stalled.isEmpty {
            do {
                try notifier.watchdog()
                pinged = true
            } catch {
                logger.warning("watchdog ping failed", metadata: ["error": "\(error)"])
            }
            if !wasStuck.isEmpty {
                logger.notice("all stages progressing again; watchdog pings resumed")
            }
        } else if stalled != wasStuck {
            logger.error("stage made no progress; withholding the watchdog ping", metadata: [
                "stages": .array(stalled.map { .string($0) }),
                "interval": "\(checkInterval)",
            ])
        }
        lock.withLock {
            stuck = stalled
            if pinged { pings += 1 }
            checks += 1
        }
    }
}

import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// What a pipeline thread does when a poll found nothing. Busy spinning keeps the latency
/// lowest on a dedicated core; the backoff strategies are for shared hosts (Aeron's lesson:
/// backing off turns microseconds into milliseconds, so spin first).
public enum IdleStrategy: Sendable, Equatable, CustomStringConvertible {
    case busySpin
    /// Spin `spins` empty polls, then `sched_yield` on each further one.
    case spinThenYield(spins: Int)
    /// Spin `spins` empty polls, then sleep `microseconds` on each further one.
    case spinThenPark(spins: Int, microseconds: UInt32)

    /// "busy-spin", "spin-yield[:SPINS]" or "spin-park[:SPINS[:MICROSECONDS]]"; nil otherwise.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func number<T: FixedWidthInteger>(_ index: Int, _ fallback: T) -> T? {
            index < parts.count ? T(parts[index]) : fallback
        }
        switch parts[0] {
        case "busy-spin" where parts.count == 1: self = .busySpin
        case "spin-yield" where parts.count <= 2:
            guard let spins: Int = number(1, 10_000), spins >= 0 else { return nil }
            self = .spinThenYield(spins: spins)
        case "spin-park" where parts.count <= 3:
            guard let spins: Int = number(1, 10_000), spins >= 0, let micros: UInt32 = number(2, 50), micros > 0 else { return nil }
            self = .spinThenPark(spins: spins, microseconds: micros)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .busySpin: "busy-spin"
        case .spinThenYield(let spins): "spin-yield:\(spins)"
        case .spinThenPark(let spins, let micros): "spin-park:\(spins):\(micros)"
        }
    }
}

/// One thread's idling state for its strategy.
public struct Idler {
    public let strategy: IdleStrategy
    private var emptyPolls = 0

    public init(_ strategy: IdleStrategy) { self.strategy = strategy }

    /// After each poll: `work` is what the poll did.
    @inline(__always)
    public mutating func idle(afterWork work: Int) {
        if _fastPath(work > 0) {
            emptyPolls = 0
            return
        }
        emptyPolls &+= 1
        switch strategy {
        case .busySpin:
            break
        case .spinThenYield(let spins):
            if emptyPolls > spins { sched_yield() }
        case .spinThenPark(let spins, let micros):
            if emptyPolls > spins { usleep(micros) }
        }
    }
}

/// Where a stage thread runs: its name (as `top -H` shows it), an optional CPU to pin it to
/// and an optional SCHED_FIFO priority.
public struct StagePlacement: Sendable, Equatable {
    public var name: String
    public var cpu: Int?
    public var realtimePriority: Int32?
    public init(name: String, cpu: Int? = nil, realtimePriority: Int32? = nil) {
        self.name = name
        self.cpu = cpu
        self.realtimePriority = realtimePriority
    }
}

/// A pipeline stage's own OS thread: named, pinned and prioritized as placed before `body`
/// runs; what it got (or why not, with the remedy) goes to `report` once, from that thread.
public final class StageThread: @unchecked Sendable {
    // @unchecked: the pthread handle is written by init and read by join, on the starting thread.
    public let placement: StagePlacement
    private let thread: pthread_t

    public init(_ placement: StagePlacement, report: @escaping @Sendable (String) -> Void, body: @escaping @Sendable () -> Void) {
        self.placement = placement
        thread = startServiceThread(named: "stage \(placement.name)") {
            StageThread.place(placement, report: report)
            body()
        }
    }

    public func join() { pthread_join(thread, nil) }

    /// Names, pins and prioritizes the calling thread; tells what it got.
    static func place(_ placement: StagePlacement, report: (String) -> Void) {
        _ = ctw_set_thread_name(String(placement.name.prefix(15)))
        var got = "stage \(placement.name):"
        if let cpu = placement.cpu {
            do throws(SystemError) {
                try CPUSet(cpu: cpu).pinCurrentThread()
                got += " pinned to CPU \(cpu)"
            } catch {
                got += " NOT pinned to CPU \(cpu) (\(error); remedy: choose a CPU in this process's affinity, see `tickwire doctor`)"
            }
        } else {
            got += " not pinned"
        }
        if let priority = placement.realtimePriority {
            if ctw_set_fifo_priority(priority) == 0 {
                got += ", SCHED_FIFO \(priority)"
            } else {
                let code = errno
                got += ", SCHED_FIFO \(priority) refused (\(String(cString: strerror(code))); remedy: CAP_SYS_NICE or LimitRTPRIO in the unit)"
            }
        }
        report(got)
    }
}

import CTickwire
import TickwireSystem

#if canImport(Glibc)
import Glibc
#endif

/// Where log lines go: standard error (journald under systemd) or a file that logrotate may
/// rename, after which `reopen()` starts a new one.
public enum LogDestination: Equatable, Sendable, CustomStringConvertible {
    case standardError
    case file(String)

    /// The config spelling: `stderr`, or a file path.
    public init(configValue: String) {
        self = configValue == "stderr" ? .standardError : .file(configValue)
    }

    public var description: String {
        switch self {
        case .standardError: "stderr"
        case .file(let path): path
        }
    }
}

/// Writes log lines on a background thread, so no caller ever waits for I/O: `write` appends
/// to a bounded queue and returns; when the queue is full (a slow disk, a stalled journal) the
/// line is dropped and counted in `droppedLines`, never waited for. The queue lock is held only
/// for an append or a swap, off the hot path (hot-path threads do not log at all).
public final class LogWriter: @unchecked Sendable {
    // @unchecked: queue and flags are guarded by `lock`; `descriptor` belongs to the writer
    // thread after init.

    public let destination: LogDestination
    /// Most lines waiting at once; one more is dropped.
    public let capacity: Int
    private let lock = ConditionLock()
    private var queue: [String] = []
    private var accepted = 0
    private var written = 0
    private var dropped = 0
    private var reopenRequested = false
    private var stopRequested = false
    private var thread: pthread_t?
    private var descriptor: Int32

    /// Opens the destination now (a bad path fails at start, not at the first line) and starts
    /// the writer thread, which holds the writer until `close()`.
    public init(destination: LogDestination, capacity: Int = 8192) throws(SystemError) {
        precondition(capacity > 0, "LogWriter capacity must be positive")
        self.destination = destination
        self.capacity = capacity
        descriptor = try Self.open(destination)
        thread = startServiceThread(named: "tw-log") { [self] in run() }
    }

    /// Queues `line` (without its newline); false, and the line counted as dropped, when the
    /// queue is full.
    @discardableResult
    public func write(_ line: String) -> Bool {
        lock.withLock {
            guard queue.count < capacity, !stopRequested else {
                dropped += 1
                return false
            }
            queue.append(line)
            accepted += 1
            lock.signal()
            return true
        }
    }

    /// Lines dropped so far because the queue was full (or the write failed).
    public var droppedLines: Int { lock.withLock { dropped } }

    /// Closes and reopens a file destination (after logrotate renamed it; the daemon calls this
    /// when it sees SIGHUP). Lines queued from now on go to the new file. No-op for stderr.
    public func reopen() {
        lock.withLock {
            reopenRequested = true
            lock.signal()
        }
    }

    /// Waits until every line accepted before the call has been written (or dropped on error).
    public func flush() {
        lock.withLock {
            let target = accepted
            while written < target && thread != nil { lock.wait() }
        }
    }

    /// Writes what is queued, stops the writer thread and closes a file destination. Idempotent.
    public func close() {
        let running: pthread_t? = lock.withLock {
            stopRequested = true
            lock.signal()
            defer { thread = nil }
            return thread
        }
        guard let running else { return }
        pthread_join(running, nil)
        if case .file = destination { Glibc.close(descriptor) }
    }

    private func run() {
        while true {
            let (lines, reopening, stopping): ([String], Bool, Bool) = lock.withLock {
                while queue.isEmpty && !reopenRequested && !stopRequested { lock.wait() }
                defer {
                    queue.removeAll(keepingCapacity: true)
                    reopenRequested = false
                }
                return (queue, reopenRequested, stopRequested)
            }
            // Reopen first: lines logged after the reopen() call belong in the new file.
            if reopening { reopenFile() }
            let failed = writeAll(lines)
            lock.withLock {
                written += lines.count
                dropped += failed
                lock.signal()
            }
            if stopping { return }
        }
    }

    /// One write(2) for the batch; returns how many lines were lost to a write error.
    private func writeAll(_ lines: [String]) -> Int {
        guard !lines.isEmpty else { return 0 }
        var batch: [UInt8] = []
        batch.reserveCapacity(lines.reduce(0) { $0 + $1.utf8.count + 1 })
        for line in lines {
            batch.append(contentsOf: line.utf8)
            batch.append(UInt8(ascii: "\n"))
        }
        let complete = batch.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                guard let count = try? syscall("write", { Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset) }) else {
                    return false
                }
                offset += count
            }
            return true
        }
        return complete ? 0 : lines.count
    }

    private func reopenFile() {
        guard case .file = destination else { return }
        do {
            let fresh = try Self.open(destination)
            Glibc.close(descriptor)
            descriptor = fresh
        } catch {
            // Keep writing to the old file; say so there, where the operator is looking.
            _ = writeAll(["log reopen of \(destination) failed: \(error); still writing to the previous file"])
        }
    }

    private static func open(_ destination: LogDestination) throws(SystemError) -> Int32 {
        switch destination {
        case .standardError:
            return STDERR_FILENO
        case .file(let path):
            return try syscall("open(log file)") { Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640) }
        }
    }
}

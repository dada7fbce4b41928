#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with a condition variable on CLOCK_MONOTONIC, for the service threads
/// (log writer, health monitor) that sleep until work arrives, a deadline passes or they
/// are told to stop. Off the hot path only: callers may wait for the lock.
final class ConditionLock: @unchecked Sendable {
    // @unchecked: the pthread objects are what make the shared state safe.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        // Monotonic, so a wall-clock step (NTP) neither stretches nor cuts a timed wait.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Wakes the waiting thread (call with or without the lock held).
    func signal() { pthread_cond_broadcast(condition) }

    /// With the lock held: releases it until signalled (or a spurious wake-up), then retakes it.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// With the lock held: as `wait()`, but returns at `deadline` (CLOCK_MONOTONIC) at the latest.
    func wait(until deadline: timespec) {
        var deadline = deadline
        pthread_cond_timedwait(condition, mutex, &deadline)
    }

    /// CLOCK_MONOTONIC now plus `interval`.
    static func deadline(after interval: Duration) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let (seconds, attoseconds) = interval.components
        var nanoseconds = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        var wholeSeconds = Int(now.tv_sec) + Int(seconds)
        if nanoseconds >= 1_000_000_000 {
            nanoseconds -= 1_000_000_000
            wholeSeconds += 1
        }
        return timespec(tv_sec: wholeSeconds, tv_nsec: nanoseconds)
    }
}

/// Starts `body` on a new joinable pthread; `name` says which in a failure.
func startServiceThread(named name: String, _ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    let status = pthread_create(&thread, nil, { context in
        Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
        return nil
    }, context)
    precondition(status == 0, "pthread_create for the \(name) thread failed: \(status)")
    return thread
}

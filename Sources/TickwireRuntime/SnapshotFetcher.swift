import Synchronization
import TickwireCore
import TickwireTransport

#if canImport(Glibc)
import Glibc
#endif

/// One REST snapshot request and, once done, its outcome. Created by the feed thread (rare:
/// a Binance sync start or resync), owned by exactly one thread at a time: the feed thread
/// until it is pushed, the helper while it fetches, the feed thread again after it is popped.
public final class SnapshotJob {
    public enum Outcome: Sendable, Equatable {
        case pending
        /// 2xx, or the venue's error body after `SnapshotFetcher.maxFailedAttempts` non-2xx answers.
        case body(status: Int, [UInt8])
        /// Abandoned: the connection it was for has gone (its epoch is over).
        case abandoned
    }

    public let instrument: InstrumentId
    public let url: String
    /// The connection it belongs to; results of older connections are dropped.
    public let epoch: Int
    public internal(set) var outcome = Outcome.pending
    /// 429/418 answers waited out before the final outcome.
    public internal(set) var rateLimited = 0
    /// Transport failures and non-2xx answers retried before the final outcome.
    public internal(set) var retries = 0
    /// The last failure, for the log line.
    public internal(set) var lastError: String?

    init(instrument: InstrumentId, url: String, epoch: Int) {
        self.instrument = instrument
        self.url = url
        self.epoch = epoch
    }
}

/// Fetches REST depth snapshots on a helper thread so the feed thread never blocks on HTTP.
///
/// The mailbox is two lock-free single-producer/single-consumer rings (`SpscRing`) carrying
/// retained job pointers: feed → helper for requests, helper → feed for results. The feed
/// thread checks the result ring once per loop iteration: one atomic load of the ring's tail
/// while nothing is waiting, no lock, no syscall, no allocation. The helper sleeps on a POSIX
/// semaphore that the feed posts after each request (sem_post never blocks), so an idle
/// helper costs no CPU. A lock-free ring was chosen over a mutex-protected queue because the
/// feed thread must never wait for a thread doing blocking I/O — a mutex held by the helper
/// while it appends a result would stall the hot loop behind a descheduled thread.
///
/// Rate limits (429/418) are waited out on the helper for the venue's `Retry-After`, or an
/// exponential 1 s, 2 s, 4 s … (max 60 s) without one; transport errors and other statuses are
/// retried with the same backoff. Every wait first checks that the job's connection is still
/// current (`currentEpoch`): a job for a dead connection is returned `.abandoned`.
public final class SnapshotFetcher: @unchecked Sendable {
    /// Non-2xx, non-rate-limit answers retried before the body is handed to the adapter anyway
    /// (it reads the venue's error JSON and counts the rejection).
    public static let maxFailedAttempts = 4

    private let requests: SpscRing<UnsafeMutableRawPointer>
    private let results: SpscRing<UnsafeMutableRawPointer>
    private let requestProducer: SpscRing<UnsafeMutableRawPointer>.Producer
    /// The feed thread's end of the result ring: raw pointers, so polling it touches no
    /// reference count of this (shared) object. Pass popped pointers to `job(from:)`.
    public let resultConsumer: SpscRing<UnsafeMutableRawPointer>.Consumer
    private let wake: UnsafeMutablePointer<sem_t>
    private let epochCell: UnsafeMutablePointer<Atomic<Int>>
    private let stopFlag: UnsafeMutablePointer<Atomic<Bool>>
    private let finished: UnsafeMutablePointer<sem_t>
    private let rest: RestClient
    private let rateLimitBackoff = Backoff(initial: .seconds(1), maximum: .seconds(60))
    /// Requests the ring could not take yet (feed thread only).
    private var overflow: [SnapshotJob] = []
    private var started = false

    public init(extraCAFile: String?, capacity: Int = 256, timeout: Duration = .seconds(10)) throws(FeedSetupError) {
        do {
            requests = try SpscRing(minimumCapacity: capacity)
            results = try SpscRing(minimumCapacity: capacity)
        } catch {
            throw FeedSetupError("snapshot mailbox: \(error)")
        }
        requestProducer = requests.producer
        resultConsumer = results.consumer
        rest = RestClient(extraCAFile: extraCAFile, timeout: timeout)
        wake = .allocate(capacity: 1)
        sem_init(wake, 0, 0)
        finished = .allocate(capacity: 1)
        sem_init(finished, 0, 0)
        epochCell = .allocate(capacity: 1)
        epochCell.initialize(to: Atomic(0))
        stopFlag = .allocate(capacity: 1)
        stopFlag.initialize(to: Atomic(false))
    }

    deinit {
        stop()
        while let pointer = requests.consumer.tryPop() { Unmanaged<SnapshotJob>.fromOpaque(pointer).release() }
        while let pointer = resultConsumer.tryPop() { Unmanaged<SnapshotJob>.fromOpaque(pointer).release() }
        sem_destroy(wake)
        wake.deallocate()
        sem_destroy(finished)
        finished.deallocate()
        epochCell.deinitialize(count: 1)
        epochCell.deallocate()
        stopFlag.deinitialize(count: 1)
        stopFlag.deallocate()
    }

    /// Starts the helper thread (idempotent).
    public func start() {
        guard !started else { return }
        started = true
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { context in
            let fetcher = Unmanaged<SnapshotFetcher>.fromOpaque(context!).takeRetainedValue()
            fetcher.helperLoop()
            return nil
        }, context)
        precondition(status == 0, "pthread_create for the snapshot helper failed: \(status)")
        pthread_detach(thread)
    }

    /// Stops the helper and waits for it (it finishes the request under way first, up to the REST timeout).
    public func stop() {
        guard started else { return }
        started = false
        stopFlag.pointee.store(true, ordering: .releasing)
        sem_post(wake)
        while sem_wait(finished) != 0 && errno == EINTR {}
    }

    // MARK: feed thread

    /// The connection the feed is on; jobs of other epochs are abandoned by the helper and
    /// dropped by `takeResult`'s caller.
    public var epoch: Int { epochCell.pointee.load(ordering: .relaxed) }

    public func beginEpoch(_ epoch: Int) {
        epochCell.pointee.store(epoch, ordering: .releasing)
        overflow.removeAll()
        sem_post(wake)  // lets a helper waiting out a backoff notice
    }

    /// Queues a fetch. Never blocks. Returns whether requests are still waiting for room in
    /// the ring (then call `flushOverflow` again later).
    @discardableResult
    public func submit(instrument: InstrumentId, url: String) -> Bool {
        let job = SnapshotJob(instrument: instrument, url: url, epoch: epoch)
        overflow.append(job)
        return flushOverflow()
    }

    /// The next finished job, if any (tests; the feed polls `resultConsumer` itself).
    public func takeResult() -> SnapshotJob? {
        flushOverflow()
        return resultConsumer.tryPop().map(Self.job(from:))
    }

    /// Takes ownership of a job popped from `resultConsumer`.
    public static func job(from pointer: UnsafeMutableRawPointer) -> SnapshotJob {
        Unmanaged<SnapshotJob>.fromOpaque(pointer).takeRetainedValue()
    }

    /// Pushes requests that did not fit before; returns whether some still wait.
    @discardableResult
    public func flushOverflow() -> Bool {
        guard !overflow.isEmpty else { return false }
        var pushed = 0
        for job in overflow {
            let pointer = Unmanaged.passRetained(job).toOpaque()
            guard requestProducer.tryPush(pointer) else {
                Unmanaged<SnapshotJob>.fromOpaque(pointer).release()
                break
            }
            pushed += 1
        }
        if pushed > 0 {
            overflow.removeFirst(pushed)
            sem_post(wake)
        }
        return !overflow.isEmpty
    }

    // MARK: helper thread

    private func helperLoop() {
        let consumer = requests.consumer
        let producer = results.producer
        var pendingResults: [UnsafeMutableRawPointer] = []
        while !stopFlag.pointee.load(ordering: .acquiring) {
            while let pointer = pendingResults.first, producer.tryPush(pointer) { pendingResults.removeFirst() }
            guard let pointer = consumer.tryPop() else {
                if pendingResults.isEmpty {
                    while sem_wait(wake) != 0 && errno == EINTR {}
                } else {
                    usleep(1000)  // the feed has not drained its results yet
                }
                continue
            }
            let job = Unmanaged<SnapshotJob>.fromOpaque(pointer).takeUnretainedValue()
            fetch(job)
            if !producer.tryPush(pointer) { pendingResults.append(pointer) }
        }
        for pointer in pendingResults { Unmanaged<SnapshotJob>.fromOpaque(pointer).release() }
        sem_post(finished)
    }

    private func isCurrent(_ job: SnapshotJob) -> Bool {
        job.epoch == epochCell.pointee.load(ordering: .acquiring) && !stopFlag.pointee.load(ordering: .acquiring)
    }

    private func fetch(_ job: SnapshotJob) {
        var failures = 0
        while isCurrent(job) {
            let delay: Duration
            do throws(TransportError) {
                switch try rest.get(job.url) {
                case .ok(let status, let body):
                    job.outcome = .body(status: status, body)
                    return
                case .rateLimited(let status, let retryAfter):
                    job.rateLimited += 1
                    job.lastError = "HTTP \(status) (rate limited\(retryAfter.map { ", Retry-After \($0)" } ?? ""))"
                    delay = retryAfter ?? rateLimitBackoff.ceiling(forAttempt: job.rateLimited - 1)
                case .failed(let status, let body):
                    failures += 1
                    job.lastError = "HTTP \(status): \(String(decoding: body.prefix(200), as: UTF8.self))"
                    if failures >= Self.maxFailedAttempts {
                        job.outcome = .body(status: status, body)
                        return
                    }
                    job.retries += 1
                    delay = rateLimitBackoff.ceiling(forAttempt: failures - 1)
                }
            } catch {
                failures += 1
                job.retries += 1
                job.lastError = error.description
                delay = rateLimitBackoff.ceiling(forAttempt: min(failures - 1, 6))
            }
            sleep(delay, unlessStale: job)
        }
        job.outcome = .abandoned
    }

    /// Waits `delay` in short steps so a new epoch or stop ends the wait early.
    private func sleep(_ delay: Duration, unlessStale job: SnapshotJob) {
        let (seconds, attoseconds) = delay.components
        var remainingMicroseconds = max(0, seconds) * 1_000_000 + max(0, attoseconds) / 1_000_000_000_000
        while remainingMicroseconds > 0 && isCurrent(job) {
            let step = min(remainingMicroseconds, 20_000)
            usleep(UInt32(step))
            remainingMicroseconds -= step
        }
    }
}

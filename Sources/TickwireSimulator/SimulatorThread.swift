#if canImport(Glibc)
import Glibc
#endif

/// Runs an `ExchangeSimulator` on a thread of its own, polling its sockets continuously
/// (connects, subscriptions, REST, pings) without generating anything by itself: the owner
/// asks for events with `perform { $0.generate(1) }`, so a test knows exactly what was sent
/// when it compares a client's book with the truth. `perform` runs a closure on the
/// simulator's thread between polls and returns its result.
public final class SimulatorThread: @unchecked Sendable {
    private let simulator: ExchangeSimulator
    private var mutex = pthread_mutex_t()
    private var commands: [() -> Void] = []
    private var running = true
    private var finished = false
    private var thread = pthread_t()
    /// Poll errors seen by the thread (it carries on).
    public private(set) var errors: [SimulatorError] = []

    public init(_ simulator: ExchangeSimulator) {
        self.simulator = simulator
        pthread_mutex_init(&mutex, nil)
        let unmanaged = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, { argument in
            let owner = Unmanaged<SimulatorThread>.fromOpaque(argument!).takeRetainedValue()
            owner.loop()
            return nil
        }, unmanaged.toOpaque())
    }

    /// Stops the thread (waits for it).
    public func stop() {
        locked { running = false }
        pthread_join(thread, nil)
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }

    /// Runs `body` on the simulator's thread and returns its result.
    public func perform<T>(_ body: @escaping (ExchangeSimulator) -> T) -> T {
        var result: T?
        var done = false
        locked { commands.append { let value = body(self.simulator); self.locked { result = value; done = true } } }
        while true {
            if locked({ done || finished }) { break }
            usleep(20)
        }
        return result!
    }

    private func loop() {
        while locked({ running }) {
            do throws(SimulatorError) {
                try simulator.poll(timeout: .zero)
            } catch {
                locked { errors.append(error) }
            }
            let batch = locked { () -> [() -> Void] in
                defer { commands.removeAll() }
                return commands
            }
            for command in batch { command() }
            if batch.isEmpty { usleep(50) }
        }
        locked { finished = true }
    }
}

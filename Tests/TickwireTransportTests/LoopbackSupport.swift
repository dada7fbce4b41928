import Foundation
import Testing
import TickwireTransport

/// What the server saw, copied out of its buffers.
enum ServerEventRecord: Equatable {
    case connected(Int, String), text(Int, [UInt8]), pong(Int, [UInt8]), disconnected(Int, UInt16?)
}

/// A WebSocketServer driven by its own thread (as the simulator will run it). Tests reach it
/// through `perform`, which runs a closure on that thread between polls.
final class ServerHarness: @unchecked Sendable {
    let port: UInt16
    private let server: WebSocketServer
    private let lock = NSLock()
    private var commands: [(WebSocketServer) -> Void] = []
    private var recorded: [ServerEventRecord] = []
    private var running = true
    private let stopped = DispatchSemaphore(value: 0)

    init(tls: TLSContext? = nil, host: String = "127.0.0.1", configure: (WebSocketServer) -> Void = { _ in }) throws {
        server = try WebSocketServer(host: host, port: 0, tls: tls)
        configure(server)
        port = server.port
        Thread { [self] in run() }.start()
    }

    deinit {
        lock.withLock { running = false }
        stopped.wait()
    }

    var events: [ServerEventRecord] { lock.withLock { recorded } }

    /// Runs `body` on the server thread and waits for it.
    func perform<T>(_ body: @escaping (WebSocketServer) -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: T?
        lock.withLock { commands.append { server in result = body(server); done.signal() } }
        done.wait()
        return result!
    }

    /// The first connected client (waits for its upgrade to finish).
    func firstClient(timeout: Duration = .seconds(5)) throws -> Int {
        try waitFor(timeout: timeout) { events in
            events.lazy.compactMap { if case .connected(let id, _) = $0 { return id } else { return nil } }.first
        }
    }

    func waitFor<T>(timeout: Duration = .seconds(5), _ match: ([ServerEventRecord]) -> T?) throws -> T {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let found = match(events) { return found }
            usleep(1000)
        }
        throw HarnessTimeout(what: "server events \(events)")
    }

    private func run() {
        while lock.withLock({ running }) {
            try? server.poll(timeout: .milliseconds(1)) { event in
                let record: ServerEventRecord
                switch event {
                case .connected(let id, let target): record = .connected(id, target)
                case .text(let id, let payload): record = .text(id, Array(payload))
                case .binary(let id, let payload): record = .text(id, Array(payload))
                case .pong(let id, let payload): record = .pong(id, Array(payload))
                case .disconnected(let id, let code): record = .disconnected(id, code)
                }
                lock.withLock { recorded.append(record) }
            }
            for command in lock.withLock({ () -> [(WebSocketServer) -> Void] in defer { commands = [] }; return commands }) {
                command(server)
            }
            server.flush()
        }
        stopped.signal()
    }
}

struct HarnessTimeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// What the client delivered, copied out of its receive buffer.
enum ClientEventRecord: Equatable {
    case text([UInt8]), binary([UInt8]), pong([UInt8]), closed(UInt16, String)
}

extension WebSocketClient {
    /// Polls until `count` events arrived (or `timeout`), returning them with the text stamps.
    func collect(_ count: Int, timeout: Duration = .seconds(10)) throws -> (events: [ClientEventRecord], stamps: [ReceiveTimestamp]) {
        var events: [ClientEventRecord] = []
        var stamps: [ReceiveTimestamp] = []
        let deadline = ContinuousClock.now + timeout
        while events.count < count {
            guard ContinuousClock.now < deadline else { throw HarnessTimeout(what: "\(count) client events, got \(events)") }
            let delivered = try poll { event in
                switch event {
                case .text(let payload, let stamp): events.append(.text(Array(payload))); stamps.append(stamp)
                case .binary(let payload, let stamp): events.append(.binary(Array(payload))); stamps.append(stamp)
                case .pong(let payload, _): events.append(.pong(Array(payload)))
                case .closed(let code, let reason): events.append(.closed(code, String(decoding: reason, as: UTF8.self)))
                }
            }
            if delivered == 0 { usleep(20) }  // two vCPUs: leave room for the server thread
        }
        return (events, stamps)
    }

    /// Polls until the call throws (the connection failed), returning the error.
    func pollUntilFailure(timeout: Duration = .seconds(5)) -> TransportError? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            do throws(TransportError) {
                if try poll({ _ in }) == 0 { usleep(20) }
            } catch {
                return error
            }
        }
        return nil
    }
}

/// A fresh directory per test for generated CA files.
func temporaryPath(_ name: String) -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tickwire-transport-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name).path
}

/// A TLS server identity generated for this test, with the CA file clients should trust.
struct GeneratedIdentity {
    let context: TLSContext
    let caFile: String

    init() throws {
        caFile = temporaryPath("simulator-ca.pem")
        context = try TLSContext.serverWithGeneratedIdentity(writingCACertificateTo: caFile)
    }
}

extension Array where Element == UInt8 {
    init(_ text: String) { self = Array(text.utf8) }
}

/// Socket tests share two vCPUs with a busy-polling client: run them one at a time.
@Suite(.serialized) struct LoopbackTests {}

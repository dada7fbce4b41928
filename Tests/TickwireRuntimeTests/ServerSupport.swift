import Foundation
import Testing
import TickwireTransport
@testable import TickwireRuntime

/// What the scripted server saw, copied out of its buffers.
enum VenueServerEvent: Equatable {
    case connected(Int, String), text(Int, String), disconnected(Int, UInt16?)
}

/// A `WebSocketServer` on its own thread playing a venue: `script` runs on that thread for
/// every event (with the server to answer through), `httpHandler` answers REST GETs.
final class VenueServer: @unchecked Sendable {
    let port: UInt16
    private let server: WebSocketServer
    private let lock = NSLock()
    private var recorded: [VenueServerEvent] = []
    private var commands: [(WebSocketServer) -> Void] = []
    private var running = true
    private let stopped = DispatchSemaphore(value: 0)
    private let script: (WebSocketServer, VenueServerEvent) -> Void
    private let tick: ((WebSocketServer) -> Void)?

    /// `tick` runs on the server thread after every poll (about once a millisecond).
    init(tls: TLSContext? = nil, httpHandler: ((String) -> HTTPResponse)? = nil,
         tick: ((WebSocketServer) -> Void)? = nil,
         script: @escaping (WebSocketServer, VenueServerEvent) -> Void) throws {
        server = try WebSocketServer(host: "127.0.0.1", port: 0, tls: tls)
        server.httpHandler = httpHandler
        port = server.port
        self.script = script
        self.tick = tick
        Thread { [self] in run() }.start()
    }

    deinit { stop() }

    func stop() {
        guard lock.withLock({ () -> Bool in defer { running = false }; return running }) else { return }
        stopped.wait()
    }

    var events: [VenueServerEvent] { lock.withLock { recorded } }

    /// Runs `body` on the server thread (asynchronously, between polls).
    func perform(_ body: @escaping (WebSocketServer) -> Void) {
        lock.withLock { commands.append(body) }
    }

    private func run() {
        while lock.withLock({ running }) {
            var batch: [VenueServerEvent] = []
            try? server.poll(timeout: .milliseconds(1)) { event in
                switch event {
                case .connected(let id, let target): batch.append(.connected(id, target))
                case .text(let id, let payload): batch.append(.text(id, String(decoding: payload, as: UTF8.self)))
                case .binary, .pong: break
                case .disconnected(let id, let code): batch.append(.disconnected(id, code))
                }
            }
            for event in batch {
                lock.withLock { recorded.append(event) }
                script(server, event)
            }
            for command in lock.withLock({ () -> [(WebSocketServer) -> Void] in defer { commands = [] }; return commands }) {
                command(server)
            }
            tick?(server)
            server.flush()
        }
        stopped.signal()
    }
}

extension WebSocketServer {
    func send(_ text: String, to client: Int) {
        var text = text
        text.withUTF8 { sendText(UnsafeRawBufferPointer($0), to: client) }
    }
}

/// Lines the feed's observer produced (the feed runs on the test's own thread).
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var lines: [String] { lock.withLock { stored } }
    func append(_ line: String) { lock.withLock { stored.append(line) } }
}

struct CollectingSink: LineSink {
    let collector: LineCollector
    mutating func emit(_ line: UnsafeRawBufferPointer) {
        collector.append(String(decoding: line, as: UTF8.self))
    }
}

/// One parsed `watch` jsonl line.
struct BookLine: Equatable, CustomStringConvertible {
    var venue: String
    var symbol: String
    var updateId: UInt64
    var valid: Bool
    var reason: String?
    var bids: [[String]]
    var asks: [[String]]
    var receiveNanoseconds: UInt64
    var emitNanoseconds: UInt64

    init(_ line: String) throws {
        #expect(line.hasSuffix("\n"), "a line ends with a newline")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        venue = try #require(object["venue"] as? String)
        symbol = try #require(object["symbol"] as? String)
        updateId = try #require((object["update_id"] as? NSNumber)?.uint64Value)
        valid = try #require(object["valid"] as? Bool)
        reason = object["reason"] as? String
        bids = try #require(object["bids"] as? [[String]])
        asks = try #require(object["asks"] as? [[String]])
        receiveNanoseconds = try #require((object["recv_ns"] as? NSNumber)?.uint64Value)
        emitNanoseconds = try #require((object["emit_ns"] as? NSNumber)?.uint64Value)
    }

    var description: String {
        valid ? "\(symbol) \(updateId) valid bids \(bids) asks \(asks)" : "\(symbol) \(updateId) invalid \(reason ?? "?")"
    }

    /// The parts a test compares (times are checked separately).
    var summary: String { description }
}

/// Bybit v5 frames (reference §3 shapes).
enum BybitFrames {
    static func book(_ type: String, symbol: String = "BTCUSDT", depth: Int = 50, u: UInt64, bids: [(String, String)], asks: [(String, String)]) -> String {
        func levels(_ list: [(String, String)]) -> String { list.map { "[\"\($0.0)\",\"\($0.1)\"]" }.joined(separator: ",") }
        return #"{"topic":"orderbook.\#(depth).\#(symbol)","type":"\#(type)","ts":1786310818129,"data":{"s":"\#(symbol)","b":[\#(levels(bids))],"a":[\#(levels(asks))],"u":\#(u),"seq":\#(u * 10)},"cts":1786310818027}"#
    }
}

func bybitConfig(port: UInt16, tls caFile: String? = nil, extra: String = "") -> String {
    """
    adapter = "bybit-linear"
    ws_url = "\(caFile == nil ? "ws" : "wss")://127.0.0.1:\(port)/v5/public/linear"
    symbols = ["BTCUSDT"]
    depth = 50
    reconnect_initial_ms = 20
    reconnect_max_ms = 200
    \(caFile.map { "tls_ca_file = \"\($0)\"" } ?? "")
    \(extra)
    [scales]
    BTCUSDT = { price = 2, quantity = 3 }
    """
}

/// Runs a feed for `config` on this thread until `done(lines)` or the timeout.
struct FeedRun {
    var stop: FeedStop
    var lines: [BookLine]
    var counters: FeedCounters
}

struct FeedRunner: VenueAdapterConsumer {
    let config: VenueConfig
    let options: FeedOptions
    let timeout: Duration
    let done: ([String]) -> Bool

    func consume<Adapter: VenueAdapter>(_ adapter: Adapter, books: FeedBooks) throws -> FeedRun {
        let collector = LineCollector()
        let observer = JSONLinesObserver(venue: config.venue, instruments: books.instruments, levels: 10,
                                         sink: CollectingSink(collector: collector))
        var feed = try VenueFeed(config: config, adapter: adapter, books: books, observer: observer, options: options)
        let deadline = ContinuousClock.now + timeout
        let stop = feed.run(shouldStop: { done(collector.lines) || ContinuousClock.now > deadline })
        feed.shutDown()
        return FeedRun(stop: stop, lines: try collector.lines.map(BookLine.init), counters: feed.counters)
    }
}

import TickwireVenues

func runFeed(configText: String, directory: String = temporaryDirectory(), options: FeedOptions = FeedOptions(idleSleepMicroseconds: 50),
             timeout: Duration = .seconds(15), until done: @escaping ([String]) -> Bool = { _ in false }) throws -> FeedRun {
    let file = directory + "/venue.toml"
    try writeFile(file, configText)
    let config = try VenueConfig.load(path: file)
    return try config.withAdapter(FeedRunner(config: config, options: options, timeout: timeout, done: done))
}

import Foundation
import Testing
import TickwireCore
import TickwireSimulator
import TickwireTransport
import TickwireVenues

struct HarnessFailure: Error, CustomStringConvertible {
    let description: String
}

/// Publishes nothing: the tests read the books and states directly.
struct QuietObserver: BookObserver {
    mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {}
    mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {}
}

/// The keeper's state of one symbol after one received frame.
struct FrameState: Equatable {
    var client: Int
    var frame: Int
    var state: BookKeeper<QuietObserver>.State
}

/// A real feeder connection against an in-process simulator: a `WebSocketClient`, the
/// venue's adapter and a `BookKeeper`, in lockstep with the simulator (which runs on its
/// own `SimulatorThread` and only generates when told). After each `step` every frame the
/// simulator sent has been received and applied, so the keeper's book can be compared with
/// the generator's truth at that very point. Binance snapshots are fetched with `RestClient`
/// from the simulator's REST endpoint, as the adapter's `.fetchSnapshot` asks.
final class LockstepFeed<Adapter: VenueAdapter> {
    let simulator: ExchangeSimulator
    let thread: SimulatorThread
    let url: String
    var adapter: Adapter
    var keeper: BookKeeper<QuietObserver>
    let instruments: InstrumentTable
    let symbols: [String]
    let levelsPerSide: Int
    let client: WebSocketClient
    let rest: RestClient
    var requests: [VenueRequest] = []
    var clientId = -1
    var framesReceived = 0
    var textsSent = 0
    var connects = 0
    var disconnects = 0
    var parseErrors = 0
    /// Per symbol: the keeper state after every frame.
    var history: [[FrameState]]
    /// Called after each frame with (client, frame number on that connection, the frame's text).
    var onFrame: ((Int, Int, String) -> Void)?

    init(configuration: SimulatorConfiguration, path: String = "/", levelsPerSide: Int,
         makeAdapter: (_ symbols: [VenueSymbol], _ simulator: ExchangeSimulator) throws -> Adapter) throws {
        simulator = try ExchangeSimulator(configuration: configuration)
        var table = InstrumentTable(capacity: 16)
        var venueSymbols: [VenueSymbol] = []
        for instrument in simulator.configuration.instruments {
            let id = try table.add(venue: configuration.venue, symbol: instrument.name, priceScale: instrument.priceScale,
                                   quantityScale: instrument.quantityScale)
            venueSymbols.append(VenueSymbol(name: instrument.name, instrument: id, priceScale: instrument.priceScale,
                                            quantityScale: instrument.quantityScale))
        }
        instruments = table
        symbols = venueSymbols.map(\.name)
        self.levelsPerSide = levelsPerSide
        let books = try BookTable(capacity: 16, levelBudget: BookTable.levelBudget(books: venueSymbols.count, levelsPerSide: levelsPerSide))
        for symbol in venueSymbols { try books.activate(symbol.instrument, levelsPerSide: levelsPerSide) }
        keeper = BookKeeper(books: books, instruments: table, observer: QuietObserver())
        adapter = try makeAdapter(venueSymbols, simulator)
        history = Array(repeating: [], count: venueSymbols.count)
        url = simulator.url + path
        let caFile = configuration.caCertificateOutput
        client = try WebSocketClient(url: url, options: WebSocketClientOptions(extraCAFile: caFile, connectTimeout: .seconds(5)))
        rest = RestClient(extraCAFile: caFile, timeout: .seconds(5))
        thread = SimulatorThread(simulator)
    }

    deinit {
        client.disconnect()
        thread.stop()
    }

    func instrument(_ symbol: String) -> InstrumentId { instruments.id(venue: simulator.venue, symbol: symbol)! }

    // MARK: driving

    func connect() throws {
        let known = Set(thread.perform { $0.clientIds })
        try client.connect()
        connects += 1
        framesReceived = 0
        textsSent = 0
        clientId = try newClient(known)
        adapter.connected(receiveTime: now(), sink: &keeper, requests: &requests)
        try settle()
    }

    /// The simulator registers a client when its upgrade completes, before `connect` returns.
    private func newClient(_ known: Set<Int>) throws -> Int {
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            if let id = thread.perform({ $0.clientIds }).filter({ !known.contains($0) }).max() { return id }
            guard ContinuousClock.now < deadline else { throw HarnessFailure(description: "the simulator never saw the connection") }
            usleep(100)
        }
    }

    /// Generates `count` events on the simulator and applies everything it sent.
    func step(_ count: Int = 1) throws {
        thread.perform { $0.generate(count) }
        try settle()
    }

    /// Replay mode: sends the next `count` recorded frames, applies them.
    @discardableResult
    func replayStep(_ count: Int) throws -> Bool {
        let more = thread.perform { $0.replayDue(now: monotonicNanoseconds(), limit: count) }
        try settle()
        return more
    }

    /// Sends the adapter's requests, waits until the simulator answered them, and receives
    /// every frame it sent; repeats while the frames cause new requests.
    func settle() throws {
        var rounds = 0
        repeat {
            rounds += 1
            guard rounds < 100 else { throw HarnessFailure(description: "requests never settle: \(requests)") }
            try sendRequests()
            try waitUntilAnswered()
            let target = thread.perform { [clientId] in $0.framesSent(to: clientId) }
            if let target {
                try drain(to: target)
            } else {
                try drainUntilClosed()
            }
        } while !requests.isEmpty
    }

    private func sendRequests() throws {
        while !requests.isEmpty {
            let request = requests.removeFirst()
            switch request {
            case .sendText(let text):
                guard client.state == .open else { continue }
                var bytes = Array(text.utf8)
                try bytes.withUnsafeMutableBytes { try client.sendText(UnsafeRawBufferPointer($0)) }
                textsSent += 1
            case .fetchSnapshot(let instrument, let url):
                try fetch(instrument, url)
            case .reconnect:
                client.disconnect()
                lostConnection()
            }
        }
    }

    private func fetch(_ instrument: InstrumentId, _ url: String) throws {
        guard case .ok(_, let received) = try rest.get(url) else { throw HarnessFailure(description: "REST snapshot \(url) failed") }
        // Everything sent on the stream before the snapshot existed arrives before it.
        if let target = thread.perform({ [clientId] in $0.framesSent(to: clientId) }) { try drain(to: target) }
        var body = received
        body.withUnsafeMutableBufferPointer { buffer in
            let view = ByteView(start: UnsafePointer(buffer.baseAddress!), count: buffer.count)
            do throws(VenueError) {
                try adapter.handleSnapshot(instrument, body: view, receiveTime: now(), sink: &keeper, requests: &requests)
            } catch {
                parseErrors += 1
            }
        }
        collectResyncs()
    }

    private func waitUntilAnswered() throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while let received = thread.perform({ [clientId] in $0.messagesReceived(from: clientId) }), received < textsSent {
            guard ContinuousClock.now < deadline else { throw HarnessFailure(description: "the simulator did not read our requests") }
            usleep(50)
        }
    }

    private func drain(to target: Int) throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while framesReceived < target {
            guard ContinuousClock.now < deadline else {
                throw HarnessFailure(description: "received \(framesReceived) of \(target) frames")
            }
            do throws(TransportError) {
                if try pollOnce() == 0 { usleep(10) }
            } catch {
                lostConnection()
                return
            }
        }
    }

    private func drainUntilClosed() throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while client.state != .disconnected {
            guard ContinuousClock.now < deadline else { throw HarnessFailure(description: "the simulator dropped us but the socket stays open") }
            do throws(TransportError) {
                if try pollOnce() == 0 { usleep(10) }
            } catch {
                break
            }
        }
        lostConnection()
    }

    /// The connection failed: every book is invalid; reconnect (the adapter resubscribes).
    private func lostConnection() {
        disconnects += 1
        for symbol in symbols { keeper.bookInvalid(instrument(symbol), reason: .disconnected, receiveTime: now()) }
        record()
        client.disconnect()
        let known = Set(thread.perform { $0.clientIds }).union([clientId])
        do {
            try client.connect()
            clientId = try newClient(known)
        } catch {
            Issue.record("reconnect failed: \(error)")
            return
        }
        connects += 1
        framesReceived = 0
        textsSent = 0
        adapter.connected(receiveTime: now(), sink: &keeper, requests: &requests)
    }

    private func pollOnce() throws(TransportError) -> Int {
        var frames: [[UInt8]] = []
        var closed = false
        let delivered = try client.poll { event in
            switch event {
            case .text(let payload, _): frames.append(Array(payload))
            case .closed: closed = true
            default: break
            }
        }
        for frame in frames { apply(frame) }
        if closed { throw .connectionClosed }
        return delivered
    }

    private func apply(_ frame: [UInt8]) {
        framesReceived += 1
        var frame = frame
        frame.withUnsafeMutableBufferPointer { buffer in
            let view = ByteView(start: UnsafePointer(buffer.baseAddress!), count: buffer.count)
            do throws(VenueError) {
                try adapter.handle(message: view, receiveTime: now(), sink: &keeper, requests: &requests)
            } catch {
                parseErrors += 1
            }
        }
        collectResyncs()
        record()
        onFrame?(clientId, framesReceived, String(decoding: frame, as: UTF8.self))
    }

    private func collectResyncs() {
        for instrument in keeper.takePendingResyncs() { adapter.resync(instrument, requests: &requests) }
    }

    private func record() {
        for (index, symbol) in symbols.enumerated() {
            history[index].append(FrameState(client: clientId, frame: framesReceived, state: keeper.state(of: instrument(symbol))))
        }
    }

    // MARK: reading

    func state(_ symbol: String) -> BookKeeper<QuietObserver>.State { keeper.state(of: instrument(symbol)) }

    /// The keeper's book, best first.
    func book(_ symbol: String) -> (bids: [BookLevel], asks: [BookLevel]) {
        keeper.books.withBook(instrument(symbol)) { book in
            var bids: [BookLevel] = [], asks: [BookLevel] = []
            book.forEachLevel(.bid) { bids.append($0) }
            book.forEachLevel(.ask) { asks.append($0) }
            return (bids, asks)
        }
    }

    func truth(_ symbol: String, depth: Int) -> (bids: [BookLevel], asks: [BookLevel]) {
        let truth = thread.perform { $0.truthBook(symbol, depth: depth)! }
        return (truth.bids, truth.asks)
    }

    /// Valid and every level equal to the truth's best `depth`.
    func matchesTruth(_ symbol: String, depth: Int) -> Bool {
        guard state(symbol) == .valid else { return false }
        let mine = book(symbol), truth = truth(symbol, depth: depth)
        return mine.bids == truth.bids && mine.asks == truth.asks
    }

    func faultRecords() -> [FaultRecord] { thread.perform { $0.faults.records } }

    /// The state after the `frame`-th frame on connection `client`.
    func stateAfter(_ symbol: String, client: Int, frame: Int) -> BookKeeper<QuietObserver>.State? {
        let index = symbols.firstIndex(of: symbol)!
        return history[index].last { $0.client == client && $0.frame == frame }?.state
    }
}

func now() -> UInt64 { wallClockNanoseconds() }

/// A fresh temporary path for generated CA files.
func temporaryPath(_ name: String) -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tickwire-simulator-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name).path
}

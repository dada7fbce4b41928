import CTickwire
import TickwireCore
import TickwireTransport
import TickwireVenues

#if canImport(Glibc)
import Glibc
#endif

/// Why the simulator cannot start or go on.
public enum SimulatorError: Error, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)
    case transport(TransportError)
    case replay(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let what): what
        case .transport(let error): "\(error)"
        case .replay(let what): "replay: \(what)"
        }
    }
}

/// Everything `tickwire simulate` (or a test) chooses about one simulated venue.
public struct SimulatorConfiguration: Sendable {
    public var venue: Venue
    public var instruments: [SimulatedInstrument]
    public var seed: UInt64 = 1
    public var host = "127.0.0.1"
    public var port: UInt16 = 0
    /// When set: wss:// and https:// with a certificate generated at start, its CA written here.
    public var caCertificateOutput: String?
    /// Levels a side the generator keeps (its truth never holds more).
    public var maximumLevels = 100
    public var minimumLevels = 20
    public var faults = FaultConfiguration()
    /// Serve a recorded `<recv_ns> <frame>` file instead of the generator (Binance captures).
    public var replay: ReplayConfiguration?
    /// OKX now sends `checksum: 0`; false imitates that, true sends the CRC32 (the default).
    public var okxChecksum = true
    /// Coinbase heartbeats and Kraken heartbeat messages, every this many ns.
    public var heartbeatInterval: UInt64 = 1_000_000_000
    /// When set: a `<client> <update_id> <send_ns>` line per book message sent (`SendLog`).
    public var sendLogPath: String?

    public init(venue: Venue, instruments: [SimulatedInstrument]) {
        self.venue = venue
        self.instruments = instruments
    }
}

/// Counters of a run.
public struct SimulatorStatistics: Sendable, Equatable {
    public var updatesGenerated: UInt64 = 0
    public var framesSent: UInt64 = 0
    public var bytesSent: UInt64 = 0
    public var bookMessagesSent: UInt64 = 0
    public var restSnapshotsServed: UInt64 = 0
    public var clientsConnected: UInt64 = 0
    /// `run`: monotonic ns when the market opened (first subscriber) and when the last event was sent.
    public var openedAt: UInt64 = 0
    public var lastEventAt: UInt64 = 0

    /// Book events per second between the market's opening and the last event.
    public var eventsPerSecond: Double {
        lastEventAt > openedAt ? Double(updatesGenerated) / (Double(lastEventAt - openedAt) / 1e9) : 0
    }
}

/// One WebSocket client of the simulator and what it subscribed to.
final class SimulatorSession {
    let id: WebSocketServer.ClientID
    let target: String
    let connectionId: String
    /// Binance: wrap events as `{"stream":…,"data":…}` (the `/stream` endpoint) or send them raw (`/ws`).
    var combined = true
    /// Binance stream names per symbol (nil = not subscribed).
    var depthStream: [[UInt8]?]
    var tradeStream: [[UInt8]?]
    var tickerStream: [[UInt8]?]
    /// Other venues: the subscribed book depth per symbol (0 = none).
    var bookDepth: [Int]
    var trades: [Bool]
    var heartbeats = false
    var heartbeatCounter: UInt64 = 0
    /// Coinbase: the connection's next `sequence_num`.
    var nextSequence: UInt64 = 0
    var bookMessages = 0
    var framesSent = 0
    /// Text messages received from the client.
    var messagesReceived = 0
    /// A book message held back by the reorder fault: sent after the next one of its symbol.
    var held: (symbol: Int, bytes: [UInt8], bookMessage: Int, updateId: UInt64)?
    var subscribedAnything = false

    init(id: WebSocketServer.ClientID, target: String, symbols: Int, connectionId: String) {
        self.id = id
        self.target = target
        self.connectionId = connectionId
        depthStream = Array(repeating: nil, count: symbols)
        tradeStream = Array(repeating: nil, count: symbols)
        tickerStream = Array(repeating: nil, count: symbols)
        bookDepth = Array(repeating: 0, count: symbols)
        trades = Array(repeating: false, count: symbols)
    }
}

/// The simulated exchange: a `WebSocketServer` (ws or wss, plus Binance's REST depth
/// endpoint on the same port) speaking one venue's wire format, fed by the seeded
/// `MarketGenerator` (or a `ReplaySource`), with `FaultInjector` between the encoders and
/// the sockets.
///
/// Thread-confined: one thread calls `poll`, `generate` and `run`. Tests drive it from a
/// `SimulatorThread`; `tickwire simulate` runs `run` on its main thread.
public final class ExchangeSimulator {
    public let configuration: SimulatorConfiguration
    public let server: WebSocketServer
    public var venue: Venue { configuration.venue }
    public private(set) var generator: MarketGenerator
    public private(set) var statistics = SimulatorStatistics()
    public private(set) var faults: FaultInjector
    public private(set) var replay: ReplaySource?
    /// Replay mode: the first symbol's book rebuilt from the recorded snapshot and the stream.
    public private(set) var replayBook: ReplayBook?

    var sessions: [SimulatorSession] = []
    private var sessionsById: [Int: SimulatorSession] = [:]
    private let symbolBytes: [[UInt8]]
    private let symbolLookup: [String: Int]
    private var viewDepths: [Int] = []
    private var views: [[DepthView]] = []
    /// Per view: the OKX checksum and Kraken checksum of its current levels.
    private var okxChecksums: [[Int32]] = []
    private var krakenChecksums: [[UInt32]] = []
    private var previousSeqIds: [[Int64]] = []
    private var lastTop: [(bid: BookLevel?, ask: BookLevel?)]
    private let out = FrameBuffer()
    private let scratch = FrameBuffer(capacity: 4096)
    private var pendingDrops: [Int] = []
    private var lastHeartbeat: UInt64 = 0
    private var lastPing: UInt64 = 0
    private var nextConnectionNumber: UInt64 = 0x5eed
    private let binance: BinanceEncoder
    private let sendLog: SendLog?
    /// A clock for event times; tests may replace it.
    public var clock: () -> UInt64 = { wallClockNanoseconds() }

    public init(configuration: SimulatorConfiguration) throws(SimulatorError) {
        var configuration = configuration
        var replay: ReplaySource?
        if let replayConfiguration = configuration.replay {
            guard configuration.venue == .binanceSpot || configuration.venue == .binanceUSDM else {
                throw .invalidConfiguration("--replay serves Binance captures: use --venue binance-spot or binance-usdm")
            }
            let source = try ReplaySource(replayConfiguration)
            if configuration.instruments.isEmpty { configuration.instruments = source.symbols.map { SimulatedInstrument.standard($0) } }
            replay = source
        }
        self.replay = replay
        guard !configuration.instruments.isEmpty else { throw .invalidConfiguration("no symbols to simulate") }
        var names = Set<String>()
        for instrument in configuration.instruments {
            guard !instrument.name.isEmpty, instrument.name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else {
                throw .invalidConfiguration("symbol '\(instrument.name)' is empty or has a space, quote, backslash or non-ASCII byte")
            }
            guard names.insert(instrument.name.uppercased()).inserted else { throw .invalidConfiguration("symbol \(instrument.name) is listed twice") }
            guard instrument.initialPrice > 1000 * instrument.tick else {
                throw .invalidConfiguration("symbol \(instrument.name): the starting price must be above 1000 ticks")
            }
        }
        guard configuration.minimumLevels >= 1, configuration.maximumLevels > configuration.minimumLevels, configuration.maximumLevels <= 5000 else {
            throw .invalidConfiguration("levels: need 1 <= minimum < maximum <= 5000, got \(configuration.minimumLevels) and \(configuration.maximumLevels)")
        }
        self.configuration = configuration
        generator = MarketGenerator(instruments: configuration.instruments, seed: configuration.seed,
                                    maximumLevels: configuration.maximumLevels, minimumLevels: configuration.minimumLevels)
        faults = FaultInjector(configuration.faults)
        symbolBytes = configuration.instruments.map { Array($0.name.utf8) }
        var lookup: [String: Int] = [:]
        for (index, instrument) in configuration.instruments.enumerated() { lookup[instrument.name.uppercased()] = index }
        symbolLookup = lookup
        lastTop = Array(repeating: (nil, nil), count: configuration.instruments.count)
        binance = BinanceEncoder(futures: configuration.venue == .binanceUSDM)
        sendLog = try configuration.sendLogPath.map { (path) throws(SimulatorError) in try SendLog(path: path) }
        if replay != nil { replayBook = ReplayBook(instrument: configuration.instruments[0], futures: configuration.venue == .binanceUSDM) }
        var tls: TLSContext?
        do throws(TransportError) {
            if let path = configuration.caCertificateOutput {
                tls = try TLSContext.serverWithGeneratedIdentity(writingCACertificateTo: path)
            }
            server = try WebSocketServer(host: configuration.host, port: configuration.port, tls: tls, maximumMessageSize: 1 << 20)
        } catch {
            throw .transport(error)
        }
        server.maximumBacklog = 256 << 20
        server.httpHandler = { [unowned self] target in self.answerHTTP(target) }
        for symbol in configuration.instruments.indices { lastTop[symbol] = top(symbol) }
    }

    /// `ws://host:port` (or `wss://`).
    public var url: String {
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        return "\(configuration.caCertificateOutput == nil ? "ws" : "wss")://\(host):\(server.port)"
    }

    /// `http://host:port` (or `https://`): Binance's REST base.
    public var restURL: String {
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        return "\(configuration.caCertificateOutput == nil ? "http" : "https")://\(host):\(server.port)"
    }

    // MARK: truth (for tests and scripts)

    /// The generator's book of `symbol` now, best first, at most `depth` levels a side, and its update id.
    public func truthBook(_ symbol: String, depth: Int = .max) -> (bids: [BookLevel], asks: [BookLevel], updateId: UInt64)? {
        guard let index = symbolLookup[symbol.uppercased()] else { return nil }
        let book = generator.books[index]
        let (bids, asks) = book.levels(depth: depth)
        return (bids, asks, book.updateId)
    }

    /// The client ids that are connected now, oldest first.
    public var clientIds: [Int] { sessions.map(\.id) }

    /// Frames sent to `client` so far (all kinds), or nil when it is gone.
    public func framesSent(to client: Int) -> Int? { sessionsById[client]?.framesSent }

    /// Text messages received from `client` so far (its requests are answered when counted).
    public func messagesReceived(from client: Int) -> Int? { sessionsById[client]?.messagesReceived }

    /// Whether any client subscribed to market data (the generator's run starts then).
    public var hasSubscribers: Bool { sessions.contains { $0.subscribedAnything } }

    // MARK: I/O

    /// Accepts clients, answers subscriptions, REST and pings, sends heartbeats; waits up to `timeout`.
    public func poll(timeout: Duration = .zero) throws(SimulatorError) {
        do throws(TransportError) {
            try server.poll(timeout: timeout) { event in
                switch event {
                case .connected(let id, let target): connected(id, target: target)
                case .text(let id, let payload):
                    if let session = sessionsById[id] { handleClientText(session, payload) }
                case .binary, .pong: break
                case .disconnected(let id, _): removeSession(id)
                }
            }
        } catch {
            throw .transport(error)
        }
        housekeeping()
        server.flush()
        dropPending()
    }

    private func connected(_ id: Int, target: String) {
        nextConnectionNumber = nextConnectionNumber &* 6364136223846793005 &+ 1442695040888963407
        let session = SimulatorSession(id: id, target: target, symbols: configuration.instruments.count,
                                       connectionId: hex(nextConnectionNumber >> 16))
        sessions.append(session)
        sessionsById[id] = session
        statistics.clientsConnected += 1
        switch venue {
        case .binanceSpot, .binanceUSDM:
            // /stream (combined), /stream?streams=a/b, /ws (raw), /ws/<stream>
            let (path, query) = splitTarget(target)
            session.combined = !path.hasPrefix("/ws")
            if path.hasPrefix("/ws/") { subscribeBinance(session, String(path.dropFirst(4)).split(separator: "/").map(String.init)) }
            if let streams = queryValue(query, "streams") { subscribeBinance(session, streams.split(separator: "/").map(String.init)) }
        case .kraken:
            out.reset()
            out.append(#"{"channel":"status","type":"update","data":[{"version":"2.0.0","system":"online","api_version":"v2","connection_id":"#)
            out.append(nextConnectionNumber >> 20)
            out.append(#","system_status":"online"}]}"#)
            sendControl(session)
        default:
            break
        }
    }

    private func removeSession(_ id: Int) {
        guard let session = sessionsById.removeValue(forKey: id) else { return }
        sessions.removeAll { $0 === session }
    }

    private func dropPending() {
        guard !pendingDrops.isEmpty else { return }
        server.flush()
        for id in pendingDrops {
            server.drop(id)
            removeSession(id)
        }
        pendingDrops.removeAll()
    }

    /// Starts the close handshake with every client (the run is over).
    public func closeAllClients() {
        for session in sessions { server.close(session.id) }
        server.flush()
    }

    // MARK: generating

    /// Generates `count` venue events and sends them to the subscribers (then flushes).
    public func generate(_ count: Int) {
        for _ in 0..<count { step() }
        server.flush()
        dropPending()
    }

    private func step() {
        let time = clock()
        let update = generator.step(time: time)
        statistics.updatesGenerated += 1
        let symbol = update.symbol
        let changes = generator.changes[0..<update.changeCount]
        let book = generator.books[symbol]
        for index in views.indices {
            views[index][symbol].advance(book: book, truthChanges: changes)
            guard !views[index][symbol].changes.isEmpty else { continue }
            previousSeqIds[index][symbol] = Int64(views[index][symbol].lastSeqId)
            views[index][symbol].lastSeqId = update.lastUpdateId
            views[index][symbol].messageSequence &+= 1
            refreshChecksums(index, symbol)
        }
        if sessions.isEmpty { return }
        switch venue {
        case .binanceSpot, .binanceUSDM: publishBinance(update, changes)
        default: publishOther(update)
        }
    }

    private func refreshChecksums(_ viewIndex: Int, _ symbol: Int) {
        guard venue == .okx || venue == .kraken else { return }
        let (bids, asks) = views[viewIndex][symbol].levels(of: generator.books[symbol])
        let instrument = configuration.instruments[symbol]
        if venue == .okx {
            okxChecksums[viewIndex][symbol] = configuration.okxChecksum
                ? VenueChecksums.okx(bids: bids.prefix(25), asks: asks.prefix(25), priceScale: instrument.priceScale,
                                     quantityScale: instrument.quantityScale, scratch: scratch)
                : 0
        } else {
            krakenChecksums[viewIndex][symbol] = VenueChecksums.kraken(bids: bids.prefix(10), asks: asks.prefix(10), scratch: scratch)
        }
    }

    private func top(_ symbol: Int) -> (bid: BookLevel?, ask: BookLevel?) {
        let book = generator.books[symbol]
        func level(_ side: TruthSide) -> BookLevel? {
            guard side.count > 0 else { return nil }
            let (price, quantity) = side.level(atDepth: 0)
            return BookLevel(price: Price(mantissa: price), quantity: Quantity(mantissa: quantity))
        }
        return (level(book.bids), level(book.asks))
    }

    private func publishBinance(_ update: GeneratedUpdate, _ changes: ArraySlice<LevelChange>) {
        let symbol = update.symbol
        let instrument = configuration.instruments[symbol]
        let newTop = top(symbol)
        let topChanged = newTop.bid != lastTop[symbol].bid || newTop.ask != lastTop[symbol].ask
        lastTop[symbol] = newTop
        for session in sessions {
            if let trade = update.trade, let stream = session.tradeStream[symbol] {
                binance.trade(out, stream: session.combined ? stream : nil, symbol: symbolBytes[symbol], instrument: instrument,
                              trade: trade, time: update.time)
                sendControl(session)
            }
            if let stream = session.depthStream[symbol] {
                binance.depthUpdate(out, stream: session.combined ? stream : nil, symbol: symbolBytes[symbol], instrument: instrument,
                                    update: update, changes: changes)
                sendBook(session, symbol: symbol, updateId: update.lastUpdateId)
            }
            if topChanged, let stream = session.tickerStream[symbol], let bid = newTop.bid, let ask = newTop.ask {
                binance.bookTicker(out, stream: session.combined ? stream : nil, symbol: symbolBytes[symbol], instrument: instrument,
                                   updateId: update.lastUpdateId, bid: bid, ask: ask, time: update.time)
                sendControl(session)
            }
        }
    }

    private func publishOther(_ update: GeneratedUpdate) {
        let symbol = update.symbol
        let instrument = configuration.instruments[symbol]
        for session in sessions {
            if let trade = update.trade, session.trades[symbol] {
                switch venue {
                case .bybitLinear, .bybitSpot:
                    BybitEncoder().trade(out, symbol: symbolBytes[symbol], instrument: instrument, trade: trade, seq: update.lastUpdateId, time: update.time)
                case .okx:
                    OKXEncoder().trade(out, symbol: symbolBytes[symbol], instrument: instrument, trade: trade, time: update.time)
                case .coinbase:
                    CoinbaseEncoder().trade(out, product: symbolBytes[symbol], instrument: instrument, trade: trade,
                                            sequence: session.nextSequence, time: update.time)
                    session.nextSequence += 1
                default:
                    KrakenEncoder().trade(out, symbol: symbolBytes[symbol], instrument: instrument, trade: trade, time: update.time)
                }
                sendControl(session)
            }
            let depth = session.bookDepth[symbol]
            guard depth > 0, let viewIndex = viewDepths.firstIndex(of: depth) else { continue }
            let view = views[viewIndex][symbol]
            guard !view.changes.isEmpty else { continue }
            let changes = view.changes[...]
            var updateId = update.lastUpdateId
            switch venue {
            case .bybitLinear, .bybitSpot:
                BybitEncoder().book(out, snapshot: false, depth: depth, symbol: symbolBytes[symbol], instrument: instrument, bids: nil, asks: nil,
                                    changes: changes, u: view.messageSequence, seq: update.lastUpdateId, time: update.time)
                updateId = view.messageSequence
            case .okx:
                OKXEncoder(channel: okxChannel(depth)).book(
                    out, snapshot: false, symbol: symbolBytes[symbol], instrument: instrument, bids: nil, asks: nil, changes: changes,
                    prevSeqId: previousSeqIds[viewIndex][symbol], seqId: view.lastSeqId, checksum: okxChecksums[viewIndex][symbol], time: update.time)
            case .coinbase:
                CoinbaseEncoder().book(out, snapshot: false, product: symbolBytes[symbol], instrument: instrument, bids: nil, asks: nil,
                                       changes: changes, sequence: session.nextSequence, time: update.time)
                updateId = session.nextSequence
                session.nextSequence += 1
            default:
                KrakenEncoder().book(out, snapshot: false, symbol: symbolBytes[symbol], instrument: instrument, bids: nil, asks: nil,
                                     changes: changes, checksum: krakenChecksums[viewIndex][symbol], time: update.time)
                updateId = 0
            }
            sendBook(session, symbol: symbol, updateId: updateId)
        }
    }

    // MARK: sending (faults apply to book messages)

    private func sendControl(_ session: SimulatorSession) {
        server.sendText(out.bytes, to: session.id)
        session.framesSent += 1
        statistics.framesSent += 1
        statistics.bytesSent += UInt64(out.count)
    }

    private func sendBook(_ session: SimulatorSession, symbol: Int, updateId: UInt64) {
        session.bookMessages += 1
        statistics.bookMessagesSent += 1
        let number = session.bookMessages
        func record(_ kind: FaultRecord.Kind, _ affected: Int) {
            faults.record(FaultRecord(kind: kind, client: session.id, bookMessage: number, symbol: configuration.instruments[symbol].name,
                                      updateId: updateId, firstAffectedFrame: affected))
        }
        switch faults.decide(bookMessage: number) {
        case .deliver:
            sendLog?.record(client: session.id, updateId: updateId, time: wallClockNanoseconds())
            sendControl(session)
        case .drop:
            record(.drop, session.framesSent + 1)
            return  // a held message stays held: its successor was not sent
        case .duplicate:
            sendControl(session)
            sendControl(session)
            record(.duplicate, session.framesSent)
        case .reorder:
            if session.held == nil {
                session.held = (symbol, out.copy(), number, updateId)
                return
            }
            sendControl(session)
        case .corrupt(let kind):
            if kind == .json {
                if out.count > 0 { out.base[out.count - 1] = UInt8(ascii: "#") }
                sendControl(session)
            } else {
                FaultInjector.protocolInvalidFrame.withUnsafeBytes { server.sendRaw($0, to: session.id) }
                session.framesSent += 1
            }
            record(.corrupt, session.framesSent)
        case .disconnectAfter:
            sendControl(session)
            record(.disconnect, session.framesSent + 1)
            pendingDrops.append(session.id)
            return
        case .stall(let milliseconds):
            server.flush()
            record(.stall, session.framesSent + 1)
            usleep(useconds_t(max(0, milliseconds)) * 1000)
            sendControl(session)
        }
        if let held = session.held, held.symbol == symbol {
            session.held = nil
            let affected = session.framesSent
            held.bytes.withUnsafeBytes { server.sendText($0, to: session.id) }
            session.framesSent += 1
            faults.record(FaultRecord(kind: .reorder, client: session.id, bookMessage: held.bookMessage, symbol: configuration.instruments[symbol].name,
                                      updateId: held.updateId, firstAffectedFrame: affected))
        }
    }

    // MARK: views and snapshots

    private func viewIndex(depth: Int) -> Int {
        if let index = viewDepths.firstIndex(of: depth) { return index }
        viewDepths.append(depth)
        views.append(generator.books.map {
            DepthView(book: $0, depth: depth, maximumLevels: configuration.maximumLevels, omitTruncationDeletes: venue == .kraken)
        })
        previousSeqIds.append(generator.books.map { Int64($0.updateId) })
        okxChecksums.append(Array(repeating: 0, count: configuration.instruments.count))
        krakenChecksums.append(Array(repeating: 0, count: configuration.instruments.count))
        let index = views.count - 1
        for symbol in configuration.instruments.indices { refreshChecksums(index, symbol) }
        return index
    }

    private func okxChannel(_ depth: Int) -> String { depth == 50 ? "books50-l2-tbt" : "books" }

    /// A fresh snapshot of `symbol` at `depth` in the venue's format, on `session`.
    private func sendSnapshot(_ session: SimulatorSession, symbol: Int, depth: Int) {
        let index = viewIndex(depth: depth)
        let view = views[index][symbol]
        let (bids, asks) = view.levels(of: generator.books[symbol])
        let instrument = configuration.instruments[symbol]
        let time = clock()
        switch venue {
        case .bybitLinear, .bybitSpot:
            BybitEncoder().book(out, snapshot: true, depth: depth, symbol: symbolBytes[symbol], instrument: instrument, bids: bids[...], asks: asks[...],
                                changes: nil, u: view.messageSequence, seq: generator.books[symbol].updateId, time: time)
        case .okx:
            OKXEncoder(channel: okxChannel(depth)).book(
                out, snapshot: true, symbol: symbolBytes[symbol], instrument: instrument, bids: bids[...], asks: asks[...], changes: nil,
                prevSeqId: -1, seqId: view.lastSeqId, checksum: okxChecksums[index][symbol], time: time)
        case .coinbase:
            CoinbaseEncoder().book(out, snapshot: true, product: symbolBytes[symbol], instrument: instrument, bids: bids[...], asks: asks[...],
                                   changes: nil, sequence: session.nextSequence, time: time)
            session.nextSequence += 1
        case .kraken:
            KrakenEncoder().book(out, snapshot: true, symbol: symbolBytes[symbol], instrument: instrument, bids: bids[...], asks: asks[...],
                                 changes: nil, checksum: krakenChecksums[index][symbol], time: time)
        default:
            return
        }
        sendControl(session)
    }

    // MARK: REST (Binance depth)

    private func answerHTTP(_ target: String) -> HTTPResponse {
        guard venue == .binanceSpot || venue == .binanceUSDM else {
            return HTTPResponse(status: 404, body: Array("this simulator serves \(venue.name): no REST endpoint\n".utf8))
        }
        let (path, query) = splitTarget(target)
        let expected = venue == .binanceSpot ? "/api/v3/depth" : "/fapi/v1/depth"
        guard path == expected else {
            return HTTPResponse(status: 404, body: Array(#"{"code":-1000,"msg":"Unknown path \#(path); the depth endpoint is \#(expected)"}"#.utf8))
        }
        guard let name = queryValue(query, "symbol"), let symbol = symbolLookup[name.uppercased()] else {
            return HTTPResponse(status: 400, body: Array(#"{"code":-1121,"msg":"Invalid symbol."}"#.utf8))
        }
        let maximum = venue == .binanceSpot ? 5000 : 1000
        var limit = venue == .binanceSpot ? 100 : 500
        if let text = queryValue(query, "limit") {
            guard let value = Int(text), value >= 1, value <= maximum else {
                return HTTPResponse(status: 400, body: Array(#"{"code":-1100,"msg":"Illegal characters found in parameter 'limit'; legal range is '1' to '\#(maximum)'."}"#.utf8))
            }
            limit = value
        }
        statistics.restSnapshotsServed += 1
        if let replay {
            if !replay.snapshotServed || symbol != 0 || replayBook?.isUsable != true {
                // Frames recorded before the snapshot are sent before it becomes available.
                let body = replay.snapshotBody(advancing: { frame in self.sendReplayFrame(frame) })
                syncReplayBook()
                return HTTPResponse(status: 200, body: body)
            }
            // Later requests (a resync): the book rebuilt from the snapshot and the stream since.
            let book = replayBook!.book
            binance.restSnapshot(out, instrument: configuration.instruments[0], lastUpdateId: book.updateId,
                                 bids: book.bids.top(limit)[...], asks: book.asks.top(limit)[...], time: clock())
            return HTTPResponse(status: 200, body: out.copy())
        }
        let book = generator.books[symbol]
        binance.restSnapshot(out, instrument: configuration.instruments[symbol], lastUpdateId: book.updateId,
                             bids: book.bids.top(limit)[...], asks: book.asks.top(limit)[...], time: clock())
        return HTTPResponse(status: 200, body: out.copy())
    }

    // MARK: replay

    /// Sends one recorded frame to every client subscribed to its stream (depth frames through the faults).
    func sendReplayFrame(_ frame: ReplaySource.Frame) {
        syncReplayBook()
        if frame.kind == .depth, frame.symbol == configuration.instruments[0].name.uppercased(), let bytes = replay?.bytes(frame) {
            replayBook?.applyDepth(bytes)
        }
        for session in sessions where session.subscribedAnything {
            guard let stream = frame.stream, let symbol = frame.symbol.flatMap({ symbolLookup[$0] }) else { continue }
            let subscribed: [UInt8]?
            switch frame.kind {
            case .depth: subscribed = session.depthStream[symbol]
            case .trade: subscribed = session.tradeStream[symbol]
            case .bookTicker: subscribed = session.tickerStream[symbol]
            case .other: subscribed = nil
            }
            guard let subscribed, subscribed == stream else { continue }
            out.reset()
            replay?.bytes(frame).withUnsafeBytes { out.append($0) }
            if frame.kind == .depth { sendBook(session, symbol: symbol, updateId: frame.updateId) } else { sendControl(session) }
        }
    }

    /// Once the replay has passed the recorded snapshot line, the rebuilt book starts from it.
    private func syncReplayBook() {
        guard let replay, replay.snapshotReached, replayBook?.synced == false, let bytes = replay.snapshotBytes else { return }
        replayBook?.applySnapshot(bytes)
    }

    /// Writes the send log's buffered lines (`run` does at its end).
    public func flushSendLog() { sendLog?.flush() }

    /// Replay mode: sends every frame that is due (paced by the file's receive times ÷ speed).
    /// Returns false when the file is done.
    public func replayDue(now: UInt64, limit: Int = 4096) -> Bool {
        guard let replay else { return false }
        var sent = 0
        while sent < limit, let frame = replay.nextDue(now: now) {
            sendReplayFrame(frame)
            sent += 1
        }
        server.flush()
        dropPending()
        return !replay.isFinished
    }

    // MARK: housekeeping

    private func housekeeping() {
        let now = monotonicNanoseconds()
        if now &- lastHeartbeat >= configuration.heartbeatInterval {
            lastHeartbeat = now
            for session in sessions {
                if venue == .coinbase && session.heartbeats {
                    session.heartbeatCounter += 1
                    CoinbaseEncoder().heartbeat(out, counter: session.heartbeatCounter, sequence: session.nextSequence, time: clock())
                    session.nextSequence += 1
                    sendControl(session)
                } else if venue == .kraken && session.subscribedAnything {
                    out.reset()
                    out.append(#"{"channel":"heartbeat"}"#)
                    sendControl(session)
                }
            }
        }
        if (venue == .binanceSpot || venue == .binanceUSDM) && now &- lastPing >= 20_000_000_000 {
            lastPing = now
            var payload = Array("tickwire-simulate".utf8)
            payload.withUnsafeMutableBytes { bytes in for session in sessions { server.sendPing(UnsafeRawBufferPointer(bytes), to: session.id) } }
        }
    }

    // MARK: run loop (`tickwire simulate`)

    /// Serves until `messages` book events were generated (then, after `linger`, closes every
    /// client cleanly) or `stop` says so. The market opens when the first client subscribes.
    /// `rate` is events per second (0: as fast as possible), spread evenly: each event is sent
    /// on its own when it is due (a precise sleep in between), not in bursts once per scheduler
    /// tick, so a client sees the arrival pattern a paced feed has. Replay mode paces by the
    /// file instead. While lingering no event is generated, so no fault fires: a client that
    /// is reconnecting gets the final book.
    public func run(messages: Int?, rate: Double, linger: Duration = .zero, stop: () -> Bool = { false }) throws(SimulatorError) {
        // The default 50 µs slack would bunch events due every 20 µs (50k/s).
        _ = ctw_set_timer_slack_ns(1_000)
        var opened: UInt64 = 0
        var generated = 0
        var lingerEnd: UInt64?
        while !stop() {
            if let messages, generated >= messages {
                let now = monotonicNanoseconds()
                let end = lingerEnd ?? now + UInt64(linger.components.seconds) * 1_000_000_000 + UInt64(linger.components.attoseconds / 1_000_000_000)
                lingerEnd = end
                if now >= end { break }
                try poll(timeout: .milliseconds(1))
                continue
            }
            var busy = false
            if opened == 0 && hasSubscribers {
                opened = monotonicNanoseconds()
                statistics.openedAt = opened
                replay?.start(at: opened)
            }
            if opened != 0 {
                if replay != nil {
                    if !replayDue(now: monotonicNanoseconds()) { break }
                    busy = replay?.hasDueFrame(now: monotonicNanoseconds()) ?? false
                    // A rate-paced replay sleeps until its next frame when that is under the 1 ms
                    // poll away (the poll would send frames in bursts; spinning would take a core
                    // from the clients being measured).
                    if !busy, let wait = replay?.nanosecondsUntilDue(now: monotonicNanoseconds()), wait < 1_000_000 {
                        try poll(timeout: .zero)
                        var pause = timespec(tv_sec: 0, tv_nsec: Int(wait))
                        nanosleep(&pause, nil)
                        continue
                    }
                } else {
                    var batch: Int
                    if rate > 0 {
                        let elapsed = Double(monotonicNanoseconds() - opened) / 1e9
                        batch = min(Int(elapsed * rate) - generated, 4096)
                    } else {
                        batch = 256
                    }
                    if let messages { batch = min(batch, messages - generated) }
                    if batch > 0 {
                        generate(batch)
                        generated += batch
                        statistics.lastEventAt = monotonicNanoseconds()
                        busy = rate == 0 || batch == 4096
                    }
                }
            }
            if busy || opened == 0 || rate <= 0 || replay != nil {
                try poll(timeout: busy ? .zero : .milliseconds(1))
            } else {
                // Serve the clients, then sleep until the next event is due (at most 1 ms).
                try poll(timeout: .zero)
                let nextDue = opened &+ UInt64(Double(generated + 1) / rate * 1e9)
                sleepUntil(monotonicNanoseconds: min(nextDue, monotonicNanoseconds() &+ 1_000_000))
            }
        }
        // Close cleanly: every client gets a close frame after everything queued before it. Wait
        // for the echoes as long as clients keep taking the queued bytes (a slow reader still
        // gets the whole replay), and 3 s more once they stop.
        closeAllClients()
        let patience: UInt64 = 3_000_000_000
        var deadline = monotonicNanoseconds() + patience
        var backlog = server.backlogBytes
        while server.connectionCount > 0 && monotonicNanoseconds() < deadline {
            try poll(timeout: .milliseconds(5))
            let left = server.backlogBytes
            if left < backlog { deadline = monotonicNanoseconds() + patience }
            backlog = left
        }
        server.flush()
        flushSendLog()
    }

    // MARK: client messages

    private func handleClientText(_ session: SimulatorSession, _ payload: UnsafeRawBufferPointer) {
        session.messagesReceived += 1
        switch venue {
        case .binanceSpot, .binanceUSDM: handleBinance(session, payload)
        case .bybitLinear, .bybitSpot: handleBybit(session, payload)
        case .okx: handleOKX(session, payload)
        case .coinbase: handleCoinbase(session, payload)
        case .kraken: handleKraken(session, payload)
        }
    }

    private func reply(_ session: SimulatorSession, _ text: String) {
        out.reset()
        out.append(text)
        sendControl(session)
    }

    private func handleBinance(_ session: SimulatorSession, _ payload: UnsafeRawBufferPointer) {
        var method: String?
        var params: [String] = []
        var id = "null"
        do throws(JSONError) {
            var s = JSONScanner(payload)
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "method" {
                    method = try s.string().string
                } else if key == "params" {
                    try s.beginArray()
                    while try s.nextElement() {
                        if s.peek() == UInt8(ascii: "\"") { params.append(try s.string().string) } else { try s.skipValue() }
                    }
                } else if key == "id" {
                    let start = s.offset
                    try s.skipValue()
                    id = String(decoding: UnsafeRawBufferPointer(rebasing: payload[start..<s.offset]), as: UTF8.self)
                        .trimmingCharacters(in: " \t\r\n")
                } else {
                    try s.skipValue()
                }
            }
            guard s.isAtEnd() else { throw JSONError(.unexpectedByte(s.peek() ?? 0), offset: s.offset) }
        } catch {
            return reply(session, #"{"error":{"code":3,"msg":"Invalid JSON: \#(error)"},"id":null}"#)
        }
        switch method {
        case "SUBSCRIBE":
            subscribeBinance(session, params)
            reply(session, #"{"result":null,"id":\#(id)}"#)
        case "UNSUBSCRIBE":
            for stream in params {
                guard let (symbol, suffix) = binanceStream(stream) else { continue }
                if suffix.hasPrefix("depth") { session.depthStream[symbol] = nil }
                if suffix == "trade" || suffix == "aggTrade" { session.tradeStream[symbol] = nil }
                if suffix == "bookTicker" { session.tickerStream[symbol] = nil }
            }
            reply(session, #"{"result":null,"id":\#(id)}"#)
        case "LIST_SUBSCRIPTIONS":
            var streams: [[UInt8]] = []
            for symbol in configuration.instruments.indices {
                for stream in [session.depthStream[symbol], session.tradeStream[symbol], session.tickerStream[symbol]] {
                    if let stream { streams.append(stream) }
                }
            }
            reply(session, #"{"result":[\#(streams.map { "\"" + String(decoding: $0, as: UTF8.self) + "\"" }.joined(separator: ","))],"id":\#(id)}"#)
        default:
            reply(session, #"{"error":{"code":2,"msg":"Invalid request: unknown method"},"id":\#(id)}"#)
        }
    }

    private func binanceStream(_ stream: String) -> (Int, String)? {
        guard let at = stream.firstIndex(of: "@"), let symbol = symbolLookup[stream[..<at].uppercased()] else { return nil }
        return (symbol, String(stream[stream.index(after: at)...]))
    }

    private func subscribeBinance(_ session: SimulatorSession, _ streams: [String]) {
        let depthStreams = venue == .binanceSpot ? ["depth", "depth@100ms"] : ["depth", "depth@0ms", "depth@100ms", "depth@250ms", "depth@500ms"]
        for stream in streams {
            guard let (symbol, suffix) = binanceStream(stream) else { continue }
            let bytes = Array(stream.utf8)
            if depthStreams.contains(suffix) {
                session.depthStream[symbol] = bytes
            } else if suffix == "trade" || suffix == "aggTrade" {
                session.tradeStream[symbol] = bytes
            } else if suffix == "bookTicker" {
                session.tickerStream[symbol] = bytes
            } else {
                continue
            }
            session.subscribedAnything = true
        }
    }

    private func handleBybit(_ session: SimulatorSession, _ payload: UnsafeRawBufferPointer) {
        var op = "", args: [String] = [], requestId = ""
        do throws(JSONError) {
            var s = JSONScanner(payload)
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "op" {
                    op = try s.string().string
                } else if key == "req_id" {
                    requestId = try s.string().string
                } else if key == "args" {
                    try s.beginArray()
                    while try s.nextElement() { args.append(try s.string().string) }
                } else {
                    try s.skipValue()
                }
            }
        } catch {
            return reply(session, #"{"success":false,"ret_msg":"error:invalid json","conn_id":"\#(session.connectionId)","op":""}"#)
        }
        if op == "ping" {
            return reply(session, #"{"success":true,"ret_msg":"pong","conn_id":"\#(session.connectionId)","req_id":"\#(requestId)","op":"ping"}"#)
        }
        guard op == "subscribe" || op == "unsubscribe" else {
            return reply(session, #"{"success":false,"ret_msg":"error:unknown op \#(op)","conn_id":"\#(session.connectionId)","req_id":"\#(requestId)","op":"\#(op)"}"#)
        }
        var snapshots: [(Int, Int)] = []
        var bad: String?
        for topic in args {
            let parts = topic.split(separator: ".").map(String.init)
            if parts.count == 3, parts[0] == "orderbook", let depth = Int(parts[1]), [1, 50, 200, 500, 1000].contains(depth),
               let symbol = symbolLookup[parts[2].uppercased()], parts[2] == configuration.instruments[symbol].name {
                session.bookDepth[symbol] = op == "subscribe" ? depth : 0
                if op == "subscribe" { snapshots.append((symbol, depth)) }
            } else if parts.count == 2, parts[0] == "publicTrade", let symbol = symbolLookup[parts[1].uppercased()],
                      parts[1] == configuration.instruments[symbol].name {
                session.trades[symbol] = op == "subscribe"
            } else {
                bad = topic
            }
        }
        if let bad {
            reply(session, #"{"success":false,"ret_msg":"error:handler not found,topic:\#(bad)","conn_id":"\#(session.connectionId)","req_id":"\#(requestId)","op":"\#(op)"}"#)
        } else {
            reply(session, #"{"success":true,"ret_msg":"","conn_id":"\#(session.connectionId)","req_id":"\#(requestId)","op":"\#(op)"}"#)
        }
        session.subscribedAnything = session.subscribedAnything || op == "subscribe"
        for (symbol, depth) in snapshots { sendSnapshot(session, symbol: symbol, depth: depth) }
    }

    private func handleOKX(_ session: SimulatorSession, _ payload: UnsafeRawBufferPointer) {
        if payload.count == 4 && String(decoding: payload, as: UTF8.self) == "ping" { return reply(session, "pong") }
        var op = "", id: String?
        var args: [(channel: String, instId: String)] = []
        do throws(JSONError) {
            var s = JSONScanner(payload)
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "op" {
                    op = try s.string().string
                } else if key == "id" {
                    id = try s.string().string
                } else if key == "args" {
                    try s.beginArray()
                    while try s.nextElement() {
                        var channel = "", instId = ""
                        try s.beginObject()
                        while let field = try s.nextKey() {
                            if field == "channel" { channel = try s.string().string } else if field == "instId" { instId = try s.string().string } else { try s.skipValue() }
                        }
                        args.append((channel, instId))
                    }
                } else {
                    try s.skipValue()
                }
            }
        } catch {
            return reply(session, #"{"event":"error","code":"60012","msg":"Invalid request: \#(error)","connId":"\#(session.connectionId)"}"#)
        }
        let idField = id.map { #""id":"\#($0)","# } ?? ""
        guard op == "subscribe" || op == "unsubscribe" else {
            return reply(session, #"{\#(idField)"event":"error","code":"60012","msg":"Invalid request: unknown op \#(op)","connId":"\#(session.connectionId)"}"#)
        }
        for (channel, instId) in args {
            let depth = channel == "books" || channel == "books-l2-tbt" ? 400 : channel == "books50-l2-tbt" ? 50 : 0
            guard let symbol = symbolLookup[instId.uppercased()], instId == configuration.instruments[symbol].name, depth > 0 || channel == "trades" else {
                reply(session, #"{\#(idField)"event":"error","code":"60018","msg":"Wrong URL or channel:\#(channel),instId:\#(instId) doesn't exist.","connId":"\#(session.connectionId)"}"#)
                continue
            }
            reply(session, #"{\#(idField)"event":"\#(op)","arg":{"channel":"\#(channel)","instId":"\#(instId)"},"connId":"\#(session.connectionId)"}"#)
            if channel == "trades" {
                session.trades[symbol] = op == "subscribe"
            } else {
                session.bookDepth[symbol] = op == "subscribe" ? depth : 0
                if op == "subscribe" { sendSnapshot(session, symbol: symbol, depth: depth) }
            }
            if op == "subscribe" { session.subscribedAnything = true }
        }
    }

    private func handleCoinbase(_ session: SimulatorSession, _ payload: UnsafeRawBufferPointer) {
        var type = "", channel = "", products: [String] = []
        do throws(JSONError) {
            var s = JSONScanner(payload)
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "type" {
                    type = try s.string().string
                } else if key == "channel" {
                    channel = try s.string().string
                } else if key == "product_ids" {
                    try s.beginArray()
                    while try s.nextElement() { products.append(try s.string().string) }
                } else {
                    try s.skipValue()
                }
            }
        } catch {
            return coinbaseError(session, "failure to parse request: \(error)")
        }
        guard type == "subscribe" || type == "unsubscribe" else { return coinbaseError(session, "unknown message type \(type)") }
        guard ["level2", "market_trades", "heartbeats"].contains(channel) else { return coinbaseError(session, "unknown channel \(channel)") }
        var symbols: [Int] = []
        for product in products {
            guard let symbol = symbolLookup[product.uppercased()], product == configuration.instruments[symbol].name else {
                return coinbaseError(session, "unknown product \(product)")
            }
            symbols.append(symbol)
        }
        let subscribe = type == "subscribe"
        for symbol in symbols {
            switch channel {
            case "level2":
                session.bookDepth[symbol] = subscribe ? Int.max : 0
                if subscribe { sendSnapshot(session, symbol: symbol, depth: Int.max) }
            case "market_trades": session.trades[symbol] = subscribe
            default: break
            }
        }
        if channel == "heartbeats" { session.heartbeats = subscribe }
        if subscribe { session.subscribedAnything = true }
        var channels: [(String, [String])] = []
        let names = configuration.instruments.map(\.name)
        let level2 = names.indices.filter { session.bookDepth[$0] > 0 }.map { names[$0] }
        let trades = names.indices.filter { session.trades[$0] }.map { names[$0] }
        if !level2.isEmpty { channels.append(("level2", level2)) }
        if !trades.isEmpty { channels.append(("market_trades", trades)) }
        if session.heartbeats { channels.append(("heartbeats", [])) }
        CoinbaseEncoder().subscriptions(out, channels: channels, sequence: session.nextSequence, time: clock())
        session.nextSequence += 1
        sendControl(session)
    }

    private func coinbaseError(_ session: SimulatorSession, _ message: String) {
        out.reset()
        out.append(#"{"type":"error","message":"#)
        out.appendQuoted(message)
        out.append("}")
        sendControl(session)
    }

    private func handleKraken(_ session: SimulatorSession, _ payload: UnsafeRawBufferPointer) {
        var method = "", channel = "", symbols: [String] = [], depth = 10, snapshot = true
        var requestId: UInt64?
        do throws(JSONError) {
            var s = JSONScanner(payload)
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "method" {
                    method = try s.string().string
                } else if key == "req_id" {
                    requestId = try s.uint64()
                } else if key == "params" {
                    try s.beginObject()
                    while let field = try s.nextKey() {
                        if field == "channel" {
                            channel = try s.string().string
                        } else if field == "symbol" {
                            try s.beginArray()
                            while try s.nextElement() { symbols.append(try s.string().string) }
                        } else if field == "depth" {
                            depth = Int(try s.uint64())
                        } else if field == "snapshot" {
                            snapshot = try s.bool()
                        } else {
                            try s.skipValue()
                        }
                    }
                } else {
                    try s.skipValue()
                }
            }
        } catch {
            return reply(session, #"{"error":"Malformed request","method":"","success":false}"#)
        }
        out.reset()
        let requestField = requestId.map { #","req_id":\#($0)"# } ?? ""
        if method == "ping" {
            out.append(#"{"method":"pong""#)
            out.append(requestField)
            out.append(#","time_in":""#)
            out.appendISOTime(clock(), fractionDigits: 6)
            out.append(#"","time_out":""#)
            out.appendISOTime(clock(), fractionDigits: 6)
            out.append(#""}"#)
            return sendControl(session)
        }
        guard method == "subscribe" || method == "unsubscribe" else {
            return reply(session, #"{"error":"Method not found","method":"\#(method)","success":false\#(requestField)}"#)
        }
        guard channel == "book" || channel == "trade" else {
            return reply(session, #"{"error":"Channel \#(channel) not found","method":"\#(method)","success":false\#(requestField)}"#)
        }
        guard channel != "book" || [10, 25, 100, 500, 1000].contains(depth) else {
            return reply(session, #"{"error":"Invalid depth \#(depth)","method":"\#(method)","success":false\#(requestField)}"#)
        }
        let subscribe = method == "subscribe"
        for name in symbols {
            guard let symbol = symbolLookup[name.uppercased()], name == configuration.instruments[symbol].name else {
                reply(session, #"{"error":"Currency pair not supported \#(name)","method":"\#(method)","success":false,"symbol":"\#(name)"\#(requestField)}"#)
                continue
            }
            let time = clock()
            out.reset()
            out.append(#"{"method":""#)
            out.append(method)
            out.append(#"","result":{"channel":""#)
            out.append(channel)
            if channel == "book" {
                out.append(#"","depth":"#)
                out.append(UInt64(depth))
                out.append(subscribe ? (snapshot ? #","snapshot":true,"symbol":""# : #","snapshot":false,"symbol":""#) : #","symbol":""#)
            } else {
                out.append(subscribe ? #"","snapshot":false,"symbol":""# : #"","symbol":""#)
            }
            out.append(name)
            out.append(#""},"success":true,"time_in":""#)
            out.appendISOTime(time, fractionDigits: 6)
            out.append(#"","time_out":""#)
            out.appendISOTime(time, fractionDigits: 6)
            out.append(byte: UInt8(ascii: "\""))
            out.append(requestField)
            out.append("}")
            sendControl(session)
            if channel == "book" {
                session.bookDepth[symbol] = subscribe ? depth : 0
                if subscribe && snapshot { sendSnapshot(session, symbol: symbol, depth: depth) }
            } else {
                session.trades[symbol] = subscribe
            }
            if subscribe { session.subscribedAnything = true }
        }
    }
}

// MARK: - helpers

func splitTarget(_ target: String) -> (path: String, query: String) {
    guard let mark = target.firstIndex(of: "?") else { return (target, "") }
    return (String(target[..<mark]), String(target[target.index(after: mark)...]))
}

func queryValue(_ query: String, _ name: String) -> String? {
    for pair in query.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1)
        if parts.count == 2 && parts[0] == name { return String(parts[1]) }
    }
    return nil
}

func hex(_ value: UInt64) -> String {
    let digits = Array("0123456789abcdef")
    var text = ""
    var v = value
    for _ in 0..<12 {
        text.append(digits[Int(v & 0xF)])
        v >>= 4
    }
    return text
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var view = Substring(self)
        while let first = view.first, set.contains(first) { view = view.dropFirst() }
        while let last = view.last, set.contains(last) { view = view.dropLast() }
        return String(view)
    }
}

/// CLOCK_REALTIME in ns (event times).
public func wallClockNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// CLOCK_MONOTONIC in ns (pacing).
/// Sleeps until CLOCK_MONOTONIC reads `deadline` (returns at once when it has passed).
func sleepUntil(monotonicNanoseconds deadline: UInt64) {
    var until = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nil) == EINTR {}
}

public func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

import TickwireCore
import TickwireVenues

#if canImport(Glibc)
import Glibc
#endif

/// `--replay FILE`: a recorded `<recv_ns> <frame>` file (gzip or plain), served as recorded.
public struct ReplayConfiguration: Sendable, Equatable {
    public var path: String
    /// 1 = the original timing, 10 = ten times faster, 0 = as fast as possible.
    public var speed: Double
    /// Serve only the first this many lines (a short slice of a long capture).
    public var maximumLines: Int?
    /// When set: frames evenly paced at this many a second (every recorded frame counts, the
    /// REST snapshot line too, whichever streams clients subscribed to), instead of `speed`.
    public var framesPerSecond: Double?

    public init(path: String, speed: Double = 1, maximumLines: Int? = nil, framesPerSecond: Double? = nil) {
        self.path = path
        self.speed = speed
        self.maximumLines = maximumLines
        self.framesPerSecond = framesPerSecond
    }
}

/// The frames of a recorded capture (the format of ../shared/samples: one line per received
/// frame, `<local receive time ns> <raw frame>`; Binance combined-stream frames and one bare
/// REST depth snapshot `{"lastUpdateId":…}` recorded when it arrived).
///
/// Frames are served in file order, paced by their receive times ÷ speed. The snapshot line
/// is not a WebSocket frame: it becomes the REST depth answer once the replay reaches it. A
/// REST request that comes earlier first sends every frame recorded before the snapshot (so
/// they reach clients before it exists, as they did at recording time), then gets it: the
/// official "buffer the stream, then fetch the snapshot" path is what a client goes through.
public final class ReplaySource {
    public enum Kind: Sendable { case depth, trade, bookTicker, other }

    public struct Frame {
        public let range: Range<Int>
        public let kind: Kind
        public let stream: [UInt8]?
        /// The symbol, uppercase (from the stream name).
        public let symbol: String?
        /// Depth frames: `u`.
        public let updateId: UInt64
        let time: UInt64
        public let isSnapshot: Bool
    }

    public let configuration: ReplayConfiguration
    public let data: [UInt8]
    public let frames: [Frame]
    /// Symbols (uppercase) seen in stream names, in order of appearance.
    public let symbols: [String]
    private let snapshotIndex: Int?
    private var next = 0
    private var startedAt: UInt64 = 0
    public private(set) var snapshotReached = false
    /// The snapshot line has been answered on REST at least once.
    public private(set) var snapshotServed = false
    /// When the replay paused at the snapshot line (0: not paused).
    private var pausedAt: UInt64 = 0
    /// How long the replay waits at the snapshot line for a REST request before going on.
    public var snapshotWait: UInt64 = 5_000_000_000

    public init(_ configuration: ReplayConfiguration) throws(SimulatorError) {
        guard configuration.speed >= 0, configuration.speed.isFinite else { throw .replay("speed must be >= 0, got \(configuration.speed)") }
        if let rate = configuration.framesPerSecond, !(rate > 0 && rate.isFinite) {
            throw .replay("frames per second must be > 0, got \(rate)")
        }
        self.configuration = configuration
        let bytes = try Self.load(configuration.path)
        data = bytes
        var frames: [Frame] = []
        var symbols: [String] = []
        var snapshotIndex: Int?
        try bytes.withUnsafeBufferPointer { (buffer) throws(SimulatorError) in
            var index = 0, lineNumber = 0
            while index < buffer.count && lineNumber < (configuration.maximumLines ?? .max) {
                var end = index
                while end < buffer.count && buffer[end] != 10 { end += 1 }
                lineNumber += 1
                defer { index = end + 1 }
                if end == index { continue }
                var time: UInt64 = 0
                var cursor = index
                while cursor < end, buffer[cursor] &- 48 < 10 {
                    time = time &* 10 &+ UInt64(buffer[cursor] &- 48)
                    cursor += 1
                }
                guard cursor > index, cursor < end, buffer[cursor] == 32, cursor + 1 < end, buffer[cursor + 1] == UInt8(ascii: "{") else {
                    throw .replay("\(configuration.path):\(lineNumber): expected '<recv_ns> <frame>' (digits, a space, a JSON object)")
                }
                let frame = (cursor + 1)..<end
                if Self.hasPrefix(buffer, frame, #"{"lastUpdateId""#) {
                    guard snapshotIndex == nil else { throw .replay("\(configuration.path):\(lineNumber): a second REST snapshot line") }
                    snapshotIndex = frames.count
                    frames.append(Frame(range: frame, kind: .other, stream: nil, symbol: nil, updateId: 0, time: time, isSnapshot: true))
                    continue
                }
                var stream: [UInt8]?
                var kind = Kind.other
                var symbol: String?
                if let value = Self.stringValue(buffer, frame, key: #""stream":""#) {
                    stream = Array(buffer[value])
                    if let at = buffer[value].firstIndex(of: UInt8(ascii: "@")) {
                        let name = String(decoding: buffer[value.lowerBound..<at], as: UTF8.self).uppercased()
                        symbol = name
                        if !symbols.contains(name) { symbols.append(name) }
                        let suffix = String(decoding: buffer[(at + 1)..<value.upperBound], as: UTF8.self)
                        kind = suffix.hasPrefix("depth") ? .depth : suffix == "trade" || suffix == "aggTrade" ? .trade
                            : suffix == "bookTicker" ? .bookTicker : .other
                    }
                }
                let updateId = kind == .depth ? Self.integerValue(buffer, frame, key: #""u":"#) ?? 0 : 0
                frames.append(Frame(range: frame, kind: kind, stream: stream, symbol: symbol, updateId: updateId, time: time, isSnapshot: false))
            }
        }
        guard !frames.isEmpty else { throw .replay("\(configuration.path): no frames") }
        self.frames = frames
        self.symbols = symbols
        self.snapshotIndex = snapshotIndex
    }

    public var isFinished: Bool { next >= frames.count }

    /// The replay clock starts (the first subscriber arrived).
    public func start(at now: UInt64) { startedAt = now }

    private func isDue(_ index: Int, now: UInt64) -> Bool {
        let offset: Double
        if let rate = configuration.framesPerSecond {
            offset = Double(index) * 1e9 / rate
        } else {
            guard configuration.speed > 0 else { return true }
            offset = Double(frames[index].time &- frames[0].time) / configuration.speed
        }
        return Double(now &- startedAt) >= offset
    }

    /// Whether the replay waits at the snapshot line: frames recorded after the snapshot
    /// arrived are held until a client fetched it (at most `snapshotWait`), so they reach
    /// clients after the snapshot, as they did when recorded.
    private func waitsForSnapshot(_ frame: Frame, now: UInt64) -> Bool {
        guard frame.isSnapshot && !snapshotServed else { return false }
        if pausedAt == 0 { pausedAt = max(now, 1) }
        return now &- pausedAt < snapshotWait
    }

    /// How long until the next frame is due by `framesPerSecond` (nil: not rate-paced, done, or
    /// waiting at the snapshot line for a REST request).
    public func nanosecondsUntilDue(now: UInt64) -> UInt64? {
        guard let rate = configuration.framesPerSecond, next < frames.count, !(frames[next].isSnapshot && !snapshotServed) else { return nil }
        let due = startedAt &+ UInt64(Double(next) * 1e9 / rate)
        return due > now ? due - now : 0
    }

    public func hasDueFrame(now: UInt64) -> Bool {
        next < frames.count && isDue(next, now: now) && !(frames[next].isSnapshot && !snapshotServed && pausedAt != 0 && now &- pausedAt < snapshotWait)
    }

    /// The next due WebSocket frame (the snapshot line is passed over: it is served by REST).
    public func nextDue(now: UInt64) -> Frame? {
        while next < frames.count {
            let frame = frames[next]
            guard isDue(next, now: now), !waitsForSnapshot(frame, now: now) else { return nil }
            next += 1
            if frame.isSnapshot {
                snapshotReached = true
                continue
            }
            return frame
        }
        return nil
    }

    /// The REST snapshot body; frames recorded before it that were not yet sent go to `advancing` first.
    public func snapshotBody(now: UInt64 = monotonicNanoseconds(), advancing send: (Frame) -> Void) -> [UInt8] {
        guard let snapshotIndex else { return Array(#"{"code":-1121,"msg":"the replayed file has no REST snapshot line"}"#.utf8) }
        // The replay clock stood still while it waited at the snapshot line for this request:
        // the frames after it keep their spacing instead of going out in one burst.
        if !snapshotServed && pausedAt != 0 && next == snapshotIndex { startedAt &+= min(now &- pausedAt, snapshotWait) }
        snapshotServed = true
        while next <= snapshotIndex {
            let frame = frames[next]
            next += 1
            if frame.isSnapshot { snapshotReached = true } else { send(frame) }
        }
        return Array(data[frames[snapshotIndex].range])
    }

    /// The bytes of a frame.
    public func bytes(_ frame: Frame) -> ArraySlice<UInt8> { data[frame.range] }

    // MARK: parsing helpers

    static func hasPrefix(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard range.count >= count else { return false }
        return memcmp(buffer.baseAddress! + range.lowerBound, prefix.utf8Start, count) == 0
    }

    static func find(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ key: StaticString) -> Int? {
        let count = key.utf8CodeUnitCount
        var index = range.lowerBound
        while index + count <= range.upperBound {
            if buffer[index] == key.utf8Start[0] && memcmp(buffer.baseAddress! + index, key.utf8Start, count) == 0 { return index + count }
            index += 1
        }
        return nil
    }

    static func stringValue(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, key: StaticString) -> Range<Int>? {
        guard let start = find(buffer, range, key) else { return nil }
        var end = start
        while end < range.upperBound && buffer[end] != UInt8(ascii: "\"") { end += 1 }
        return end < range.upperBound ? start..<end : nil
    }

    static func integerValue(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, key: StaticString) -> UInt64? {
        guard var index = find(buffer, range, key) else { return nil }
        var value: UInt64 = 0
        let start = index
        while index < range.upperBound, buffer[index] &- 48 < 10 {
            value = value &* 10 &+ UInt64(buffer[index] &- 48)
            index += 1
        }
        return index > start ? value : nil
    }

    // MARK: loading

    /// The whole file, decompressed by `gzip -dc` when it starts with the gzip magic.
    static func load(_ path: String) throws(SimulatorError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .replay("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var magic: [UInt8] = [0, 0]
        let got = read(descriptor, &magic, 2)
        guard got >= 0 else { throw .replay("cannot read \(path): \(String(cString: strerror(errno)))") }
        if got == 2 && magic == [0x1f, 0x8b] { return try gunzip(path) }
        lseek(descriptor, 0, SEEK_SET)
        return try readAll(descriptor, path: path)
    }

    static func readAll(_ descriptor: Int32, path: String) throws(SimulatorError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .replay("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    static func gunzip(_ path: String) throws(SimulatorError) -> [UInt8] {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw .replay("pipe: \(String(cString: strerror(errno)))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        let arguments = ["gzip", "-dc", "--", path]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, "gzip", &actions, nil, &argv, environ)
        close(fds[1])
        guard status == 0 else {
            close(fds[0])
            throw .replay("cannot run gzip -dc: \(String(cString: strerror(status)))")
        }
        let bytes: [UInt8]
        do {
            bytes = try readAll(fds[0], path: path)
        } catch {
            close(fds[0])
            var ignored: Int32 = 0
            waitpid(pid, &ignored, 0)
            throw error
        }
        close(fds[0])
        var exit: Int32 = 0
        while waitpid(pid, &exit, 0) < 0 && errno == EINTR {}
        guard exit == 0 else { throw .replay("gzip -dc \(path) failed (status \(exit)): not a valid gzip file?") }
        return bytes
    }
}

extension ReplaySource {
    /// The recorded REST snapshot line, if the file has one.
    public var snapshotBytes: ArraySlice<UInt8>? { snapshotIndex.map { data[frames[$0].range] } }
}

/// The book a replay rebuilds from the recorded REST snapshot and the depth frames after it
/// (in file order, by the venue's drop rule), so that a REST request after the first — a
/// client resyncing after a fault — gets a snapshot consistent with the stream.
public struct ReplayBook {
    public private(set) var book: TruthBook
    public private(set) var synced = false
    /// Why the book could not be rebuilt (a frame the instrument's scales cannot hold exactly…).
    public private(set) var failure: String?
    let instrument: SimulatedInstrument
    let futures: Bool
    private var scratch: [LevelChange] = []

    init(instrument: SimulatedInstrument, futures: Bool) {
        self.instrument = instrument
        self.futures = futures
        book = TruthBook(levels: 5000)
    }

    public var isUsable: Bool { synced && failure == nil }

    mutating func applySnapshot(_ bytes: ArraySlice<UInt8>) {
        scratch.removeAll(keepingCapacity: true)
        var lastUpdateId: UInt64 = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            var s = JSONScanner(raw)
            do throws(JSONError) {
                try s.beginObject()
                while let key = try s.nextKey() {
                    if key == "lastUpdateId" {
                        lastUpdateId = try s.uint64()
                    } else if key == "bids" || key == "asks" {
                        try levels(&s, key == "bids" ? .bid : .ask)
                    } else {
                        try s.skipValue()
                    }
                }
                return true
            } catch {
                failure = "recorded snapshot: \(error)"
                return false
            }
        }
        guard ok else { return }
        book.bids.removeAll()
        book.asks.removeAll()
        for change in scratch { book[change.side].set(change.price, change.quantity) }
        book.updateId = lastUpdateId
        synced = true
    }

    mutating func applyDepth(_ bytes: ArraySlice<UInt8>) {
        guard isUsable else { return }
        scratch.removeAll(keepingCapacity: true)
        var last: UInt64 = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            var s = JSONScanner(raw)
            do throws(JSONError) {
                try s.beginObject()
                while let key = try s.nextKey() {
                    guard key == "data" else { try s.skipValue(); continue }
                    try s.beginObject()
                    while let field = try s.nextKey() {
                        if field == "u" {
                            last = try s.uint64()
                        } else if field == "b" || field == "a" {
                            try levels(&s, field == "b" ? .bid : .ask)
                        } else {
                            try s.skipValue()
                        }
                    }
                }
                return true
            } catch {
                failure = "depth frame: \(error)"
                return false
            }
        }
        guard ok else { return }
        // Spot drops u <= lastUpdateId, USD-M u < lastUpdateId; a later event is applied.
        if futures ? last < book.updateId : last <= book.updateId { return }
        for change in scratch { book[change.side].set(change.price, change.quantity) }
        book.updateId = last
    }

    private mutating func levels(_ s: inout JSONScanner, _ side: Side) throws(JSONError) {
        try s.beginArray()
        while try s.nextElement() {
            try s.beginArray()
            _ = try s.nextElement()
            let price = try s.decimal(scale: instrument.priceScale)
            _ = try s.nextElement()
            let quantity = try s.decimal(scale: instrument.quantityScale)
            while try s.nextElement() { try s.skipValue() }
            scratch.append(LevelChange(side: side, price: price, quantity: quantity))
        }
    }
}

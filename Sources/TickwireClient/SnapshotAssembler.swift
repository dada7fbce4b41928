import TickwireCore

/// Collects the chunks of one book snapshot (chunk 0 to LAST_CHUNK, no index missing) into
/// preallocated level arrays, so the book is replaced in one `applySnapshot` (best first:
/// a straight copy) once the snapshot is whole.
struct SnapshotAssembler {
    enum Progress {
        /// The chunk was taken; more are needed.
        case collecting
        /// The chunk completed the snapshot: `apply(to:)` it.
        case complete
        /// Not part of a snapshot being collected (a later chunk without its predecessors).
        case ignored
    }

    private let storage: LevelStorage
    let capacity: Int
    private(set) var instrument = InstrumentId(0)
    private(set) var incrementalSequence: UInt64 = 0
    private(set) var venueUpdateId: UInt64 = 0
    private var nextChunk: UInt16 = 0
    private var collecting = false
    private var bidCount = 0
    private var askCount = 0
    /// Levels beyond `capacity` per side, since creation.
    private(set) var droppedLevels: UInt64 = 0

    init(levelsPerSide: Int) {
        capacity = levelsPerSide
        storage = LevelStorage(capacity: 2 * levelsPerSide)
    }

    /// Drops a snapshot being collected (a chunk or packet of it was lost).
    mutating func abandon() { collecting = false }

    var isCollecting: Bool { collecting }

    mutating func add(_ chunk: BookSnapshotChunk) -> Progress {
        if chunk.chunkIndex == 0 {
            collecting = true
            instrument = chunk.instrument
            incrementalSequence = chunk.incrementalSequence
            venueUpdateId = chunk.venueUpdateId
            nextChunk = 0
            bidCount = 0
            askCount = 0
        } else if !collecting || chunk.instrument != instrument || chunk.chunkIndex != nextChunk {
            collecting = false
            return .ignored
        }
        for index in 0..<chunk.bidCount {
            let level = chunk.bid(at: index)
            if append(BookLevel(price: level.price, quantity: level.quantity), at: bidCount, of: .bid) { bidCount &+= 1 }
        }
        for index in 0..<chunk.askCount {
            let level = chunk.ask(at: index)
            if append(BookLevel(price: level.price, quantity: level.quantity), at: askCount, of: .ask) { askCount &+= 1 }
        }
        nextChunk &+= 1
        guard chunk.isLastChunk else { return .collecting }
        collecting = false
        return .complete
    }

    /// Stores a level at `position` of a side; false (and counted) when the side is full.
    @inline(__always)
    private mutating func append(_ level: BookLevel, at position: Int, of side: Side) -> Bool {
        guard position < capacity else {
            droppedLevels &+= 1
            return false
        }
        storage.levels[side == .bid ? position : capacity &+ position] = level
        return true
    }

    /// Replaces the book's levels with the completed snapshot.
    func apply(to book: OrderBook) {
        book.applySnapshot(
            bids: UnsafeBufferPointer(start: storage.levels, count: bidCount),
            asks: UnsafeBufferPointer(start: storage.levels + capacity, count: askCount))
        book.updateId = venueUpdateId
    }
}

/// Owns the level arrays of an assembler.
private final class LevelStorage {
    let levels: UnsafeMutablePointer<BookLevel>
    init(capacity: Int) {
        levels = .allocate(capacity: max(1, capacity))
        levels.initialize(repeating: BookLevel(price: .zero, quantity: .zero), count: max(1, capacity))
    }
    deinit { levels.deallocate() }
}

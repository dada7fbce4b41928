import CTickwire
import TickwireSystem

/// Errors setting up books (set-up time, never on the hot path).
public enum BookTableError: Error, Equatable, CustomStringConvertible {
    case idOutOfRange(InstrumentId, capacity: Int)
    case alreadyActive(InstrumentId)
    case levelBudgetExhausted(InstrumentId, needed: Int, left: Int)

    public var description: String {
        switch self {
        case .idOutOfRange(let id, let capacity): "instrument \(id) is beyond the book table's \(capacity) books"
        case .alreadyActive(let id): "the book of instrument \(id) is already active"
        case .levelBudgetExhausted(let id, let needed, let left):
            "no level storage left for instrument \(id): needs \(needed) levels, \(left) left"
        }
    }
}

/// The L2 books of every instrument, indexed densely by `InstrumentId` (no hashing).
///
/// One `HotMemory` region holds everything: `capacity` 64-byte book headers up front,
/// then a level arena. All 2048 headers are preallocated, but 2048 × 2 × 5000 levels would
/// be 327 MB, so level storage is carved from the arena only when an instrument is
/// activated (set-up time), each side 64-byte aligned, sized to that instrument's depth.
/// The arena is sized once from `levelBudget`; books are never freed (a feeder's
/// instrument set is fixed for its run). An inactive book has no storage: it stays empty
/// and every insert into it counts as dropped.
///
/// Confined to one thread (the book thread); hand it over with `sending`, don't share it.
public final class BookTable {
    /// Enough for Binance's deepest snapshot.
    public static let defaultLevelsPerSide = 5000

    public let capacity: Int
    /// Bytes of hot memory behind the table, and the page kind it got.
    public var memoryDescription: String { memory.description }
    /// Levels of the arena not yet given to a book.
    public private(set) var levelsLeft: Int

    @usableFromInline let headers: UnsafeMutableRawPointer
    private let memory: HotMemory
    private var nextFreeLevel: UnsafeMutablePointer<BookLevel>

    /// - Parameters:
    ///   - capacity: books (instrument ids 0..<capacity).
    ///   - levelBudget: levels the arena holds for all books and sides; see `levelBudget(books:levelsPerSide:)`.
    public init(
        capacity: Int = InstrumentTable.defaultCapacity, levelBudget: Int, policy: HotMemoryPolicy = .standard
    ) throws(SystemError) {
        precondition(capacity > 0 && capacity <= Int(UInt16.max) + 1, "book table capacity must fit InstrumentId")
        precondition(levelBudget >= 0)
        precondition(MemoryLayout<BookSideHeader>.stride * 2 <= BookHeaderLayout.updateIdOffset, "header layout")
        let headerBytes = capacity * BookHeaderLayout.size
        memory = try HotMemory(bytes: headerBytes + levelBudget * MemoryLayout<BookLevel>.stride, policy: policy)
        self.capacity = capacity
        headers = memory.base
        // Level storage starts on a cache line: headers are whole lines on a page-aligned base.
        nextFreeLevel = (memory.base + headerBytes).bindMemory(to: BookLevel.self, capacity: levelBudget)
        levelsLeft = levelBudget
        for index in 0..<capacity {
            let header = headers + index * BookHeaderLayout.size
            for side in Side.allCases {
                (header + BookHeaderLayout.sidesOffset + Int(side.rawValue) * MemoryLayout<BookSideHeader>.stride)
                    .initializeMemory(as: BookSideHeader.self, repeating: BookSideHeader(levels: nextFreeLevel, capacity: 0), count: 1)
            }
            // updateId, droppedLevels, missingDeletes, and both window starts (0).
            (header + BookHeaderLayout.updateIdOffset).initializeMemory(as: UInt64.self, repeating: 0, count: 4)
        }
    }

    /// The arena size (in levels) for `books` books of `levelsPerSide` levels each side,
    /// including each side's room to move its window (see `BookSide`) and the rounding of
    /// each side up to whole cache lines.
    public static func levelBudget(books: Int, levelsPerSide: Int) -> Int {
        books * 2 * slotsPerSide(levelsPerSide)
    }

    private static let levelsPerCacheLine = 64 / MemoryLayout<BookLevel>.stride

    private static func slotsPerSide(_ levelsPerSide: Int) -> Int {
        (BookSide.storageSize(capacity: levelsPerSide) + levelsPerCacheLine - 1) / levelsPerCacheLine * levelsPerCacheLine
    }

    /// Gives instrument `id` a book with room for `levelsPerSide` levels on each side.
    public func activate(_ id: InstrumentId, levelsPerSide: Int = BookTable.defaultLevelsPerSide) throws(BookTableError) {
        precondition(levelsPerSide > 0 && levelsPerSide <= Int(Int32.max), "levelsPerSide must be positive")
        guard id.index < capacity else { throw .idOutOfRange(id, capacity: capacity) }
        guard !isActive(id) else { throw .alreadyActive(id) }
        let slots = Self.slotsPerSide(levelsPerSide)
        guard 2 * slots <= levelsLeft else { throw .levelBudgetExhausted(id, needed: 2 * slots, left: levelsLeft) }
        let book = OrderBook(header: headers + id.index * BookHeaderLayout.size)
        for side in Side.allCases {
            nextFreeLevel.initialize(repeating: BookLevel(price: .zero, quantity: .zero), count: slots)
            book.side(side).header.pointee = BookSideHeader(levels: nextFreeLevel, capacity: Int32(levelsPerSide))
            book.side(side).removeAll()  // centres the empty window
            nextFreeLevel += slots
        }
        levelsLeft -= 2 * slots
    }

    public func isActive(_ id: InstrumentId) -> Bool {
        id.index < capacity && withBook(id) { $0.levelsPerSide > 0 }
    }

    /// Runs `body` on the book of `id`. The book handle must not escape `body`.
    @inlinable
    public func withBook<Result, Failure: Error>(
        _ id: InstrumentId, _ body: (OrderBook) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(book(id))
    }

    /// Starts pulling the book of `id` into cache ahead of its update: the header line,
    /// then (once the header has arrived, as the counts live there) the lines around
    /// each side's top. For the pipeline's "prefetch the next event's book".
    @inlinable
    public func prefetch(_ id: InstrumentId) {
        let book = book(id)
        ctw_prefetch_write(book.header)
        book.prefetchTop(of: .bid)
        book.prefetchTop(of: .ask)
    }

    @inlinable
    func book(_ id: InstrumentId) -> OrderBook {
        precondition(id.index < capacity, "instrument id beyond the book table")
        return OrderBook(header: headers + id.index &* BookHeaderLayout.size)
    }
}

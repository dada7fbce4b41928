import CTickwire

/// One price level: the price in ticks and the resting quantity (16 bytes, 4 per cache line).
public struct BookLevel: Hashable, Sendable, CustomStringConvertible {
    public var price: Price
    public var quantity: Quantity

    @inlinable
    public init(price: Price, quantity: Quantity) {
        self.price = price
        self.quantity = quantity
    }

    public var description: String { "\(quantity.mantissa)@\(price.mantissa)" }
}

/// Byte layout of a book's header: one 64-byte line holding both sides' slots and the
/// book's fields, so `BookTable.prefetch` needs a single line for it.
@usableFromInline
enum BookHeaderLayout {
    @inlinable static var size: Int { 64 }
    /// Two `BookSideHeader`s, bid then ask (indexed by `Side.rawValue`).
    @inlinable static var sidesOffset: Int { 0 }
    @inlinable static var updateIdOffset: Int { 32 }
    @inlinable static var droppedLevelsOffset: Int { 40 }
    @inlinable static var missingDeletesOffset: Int { 48 }
    /// Two Int32 window starts, bid then ask (see `BookSide`).
    @inlinable static var windowStartsOffset: Int { 56 }
}

/// An L2 book for one instrument: a handle onto its header in a `BookTable`'s hot memory.
///
/// It is one raw pointer and holds no class reference, so passing it costs no ARC. It is
/// valid only inside `BookTable.withBook` (the table owns the memory). Methods are
/// `nonmutating`: they write through the pointer. Not thread-safe: one thread owns a table.
public struct OrderBook {
    @usableFromInline let header: UnsafeMutableRawPointer

    @inlinable
    init(header: UnsafeMutableRawPointer) { self.header = header }

    @inlinable
    func side(_ side: Side) -> BookSide {
        let slot = header + (BookHeaderLayout.sidesOffset &+ Int(side.rawValue) &* MemoryLayout<BookSideHeader>.stride)
        let windowStart = header + (BookHeaderLayout.windowStartsOffset &+ Int(side.rawValue) &* MemoryLayout<Int32>.stride)
        return BookSide(header: slot.assumingMemoryBound(to: BookSideHeader.self),
                        windowStart: windowStart.assumingMemoryBound(to: Int32.self), side: side)
    }

    @inlinable
    func field(at offset: Int) -> UnsafeMutablePointer<UInt64> {
        (header + offset).assumingMemoryBound(to: UInt64.self)
    }

    // MARK: updates

    /// Inserts the level or replaces its quantity; a zero quantity deletes it.
    /// When the side is full, the deepest level is dropped (`droppedLevels`) and its price
    /// returned — `price` itself when the new level would have been the deepest, so the
    /// book did not change. A publisher must tell consumers about the drop.
    @inlinable @discardableResult
    public func set(_ side: Side, price: Price, quantity: Quantity) -> Price? {
        if quantity.isZero {
            delete(side, price: price)
            return nil
        }
        let dropped = self.side(side).set(price: price, quantity: quantity)
        if _slowPath(dropped != nil) { field(at: BookHeaderLayout.droppedLevelsOffset).pointee &+= 1 }
        return dropped
    }

    /// Removes the level; an absent level is counted in `missingDeletes`, not an error.
    @inlinable
    public func delete(_ side: Side, price: Price) {
        if _slowPath(!self.side(side).remove(price: price)) {
            field(at: BookHeaderLayout.missingDeletesOffset).pointee &+= 1
        }
    }

    /// Empties one side. Counters and `updateId` are kept.
    @inlinable
    public func clear(_ side: Side) { self.side(side).removeAll() }

    /// Empties both sides. Counters and `updateId` are kept.
    @inlinable
    public func clear() {
        side(.bid).removeAll()
        side(.ask).removeAll()
    }

    /// Replaces one side with `levels` (zero quantities skipped). Best first (bids by
    /// descending price, asks ascending, unique prices) is the fast path; any order works.
    /// Beyond capacity the best `levelsPerSide` are kept and the rest counted in `droppedLevels`.
    @inlinable
    public func applySnapshot<Levels: Collection<BookLevel>>(_ side: Side, _ levels: Levels) {
        let dropped = self.side(side).replaceAll(with: levels)
        if _slowPath(dropped > 0) {
            field(at: BookHeaderLayout.droppedLevelsOffset).pointee &+= UInt64(truncatingIfNeeded: dropped)
        }
    }

    /// Replaces both sides (see `applySnapshot(_:_:)`).
    @inlinable
    public func applySnapshot<Bids: Collection<BookLevel>, Asks: Collection<BookLevel>>(bids: Bids, asks: Asks) {
        applySnapshot(.bid, bids)
        applySnapshot(.ask, asks)
    }

    // MARK: reads

    /// The highest bid, if any.
    @inlinable public var bestBid: BookLevel? { side(.bid).best }
    /// The lowest ask, if any.
    @inlinable public var bestAsk: BookLevel? { side(.ask).best }

    @inlinable
    public func best(_ side: Side) -> BookLevel? { self.side(side).best }

    @inlinable
    public func levelCount(_ side: Side) -> Int { self.side(side).count }

    /// The most levels each side holds (set at activation).
    @inlinable
    public var levelsPerSide: Int { side(.bid).capacity }

    /// Best bid >= best ask with both sides non-empty. The book stores crossed levels as
    /// given; acting on it (resync, alert) is the venue layer's call.
    @inlinable
    public var isCrossed: Bool {
        guard let bid = bestBid, let ask = bestAsk else { return false }
        return bid.price >= ask.price
    }

    /// Visits up to `limit` levels of one side, best first: bids by descending price,
    /// asks by ascending price. Does not allocate.
    @inlinable
    public func forEachLevel<Failure: Error>(
        _ side: Side, limit: Int = .max, _ body: (BookLevel) throws(Failure) -> Void
    ) throws(Failure) {
        try self.side(side).forEach(limit: limit, body)
    }

    /// Copies up to `buffer.count` levels of one side, best first, into `buffer`;
    /// returns how many were written.
    @inlinable
    @discardableResult
    public func copyLevels(_ side: Side, into buffer: UnsafeMutableBufferPointer<BookLevel>) -> Int {
        var written = 0
        self.side(side).forEach(limit: buffer.count) { level in
            buffer[written] = level
            written &+= 1
        }
        return written
    }

    // MARK: fields for the venue layer

    /// The venue's last applied update id / sequence number; the book only stores it.
    @inlinable
    public var updateId: UInt64 {
        get { field(at: BookHeaderLayout.updateIdOffset).pointee }
        nonmutating set { field(at: BookHeaderLayout.updateIdOffset).pointee = newValue }
    }

    /// Levels dropped because a side was full (by an update or a snapshot), since activation.
    @inlinable
    public var droppedLevels: UInt64 { field(at: BookHeaderLayout.droppedLevelsOffset).pointee }

    /// Deletes of levels that were not in the book, since activation.
    @inlinable
    public var missingDeletes: UInt64 { field(at: BookHeaderLayout.missingDeletesOffset).pointee }

    /// Prefetches, for writing, the two lines around one side's top: they hold the best
    /// four levels and the slot above the best, where most updates land. Reading the count
    /// is a load from the header, so `BookTable.prefetch` prefetches the header first.
    @inlinable
    func prefetchTop(of side: Side) {
        let slot = self.side(side).header.pointee
        let count = Int(slot.count)
        ctw_prefetch_write(slot.levels + count)
        ctw_prefetch_write(slot.levels + (count > 4 ? count &- 4 : 0))
    }
}

/// One side's slot in a book header: where its level array lives and how full it is.
/// Int32 counts let both sides and the book's counters share one 64-byte header line.
@usableFromInline
struct BookSideHeader {
    @usableFromInline var levels: UnsafeMutablePointer<BookLevel>
    @usableFromInline var count: Int32
    @usableFromInline var capacity: Int32

    @inlinable
    init(levels: UnsafeMutablePointer<BookLevel>, capacity: Int32) {
        self.levels = levels
        self.count = 0
        self.capacity = capacity
    }
}

/// The sorted level array of one book side.
///
/// Levels are kept in ascending order of `key`, BEST LEVEL LAST (index count - 1). Most
/// updates land within a few levels of the top, so an insert or delete there moves only
/// the few better levels above it (a short memmove) and touches the one or two cache
/// lines around the top. (Best-first at index 0 would move the whole array on every
/// top-of-book insert.)
///
/// The levels are a window inside a larger allocation (`storageSize`: a quarter more), so
/// an insert or delete moves whichever part is shorter: the better levels up/down, or the
/// deeper levels down/up (the window's start moves). Deep updates — Binance's diffs reach
/// hundreds of levels down — then cost as little as top ones instead of moving the whole
/// side; when the short part has no room, the window is recentred once (one move of the
/// side) and has slack on both ends again. Dropping the deepest level of a full side is
/// moving the window's start.
///
/// `key` is the price for bids and `~price` for asks (bitwise NOT reverses the order and,
/// unlike negation, cannot overflow), so "higher key = better" on both sides and one code
/// path serves both.
@usableFromInline
struct BookSide {
    /// How many levels below the top are scanned linearly (two cache lines) before
    /// falling back to a binary search of the rest.
    @inlinable static var linearScanDepth: Int { 8 }

    @usableFromInline let header: UnsafeMutablePointer<BookSideHeader>
    /// Where the window starts in the side's allocation, in levels (kept in the book header).
    @usableFromInline let windowStart: UnsafeMutablePointer<Int32>
    @usableFromInline let keyMask: Int64

    @inlinable
    init(header: UnsafeMutablePointer<BookSideHeader>, windowStart: UnsafeMutablePointer<Int32>, side: Side) {
        self.header = header
        self.windowStart = windowStart
        self.keyMask = side == .bid ? 0 : ~0
    }

    /// Levels allocated for a side of `capacity` levels: the window plus room to move it.
    @inlinable
    static func storageSize(capacity: Int) -> Int { capacity > 0 ? capacity &+ max(8, capacity &>> 2) : 0 }

    /// Points the window at `start` levels into the allocation (its contents stay where they are).
    @inlinable @inline(__always)
    func moveWindow(to start: Int) {
        let base = header.pointee.levels - Int(windowStart.pointee)
        header.pointee.levels = base + start
        windowStart.pointee = Int32(truncatingIfNeeded: start)
    }

    /// Moves the side's `count` levels to the middle of the allocation.
    @inlinable
    func recentre(count: Int) {
        let start = Int(windowStart.pointee)
        let centred = (Self.storageSize(capacity: capacity) &- count) &>> 1
        guard centred != start else { return }
        let levels = header.pointee.levels
        Self.moveLevels(levels, from: 0, to: centred &- start, count: count)
        moveWindow(to: centred)
    }

    @inlinable var count: Int { Int(header.pointee.count) }
    @inlinable var capacity: Int { Int(header.pointee.capacity) }

    @inlinable
    var best: BookLevel? {
        let count = self.count
        return count > 0 ? header.pointee.levels[count &- 1] : nil
    }

    @inlinable
    func key(_ price: Price) -> Int64 { price.mantissa ^ keyMask }

    /// The first index whose key is >= `key` (where `key` is or would be).
    @inlinable
    func lowerBound(_ key: Int64, in levels: UnsafeMutablePointer<BookLevel>, count: Int) -> Int {
        let scanFloor = count > Self.linearScanDepth ? count &- Self.linearScanDepth : 0
        // Deeper than the scanned top: straight to a binary search below it.
        if scanFloor > 0 && self.key(levels[scanFloor].price) >= key {
            var base = 0
            var length = scanFloor
            while length > 1 {
                let half = length &>> 1
                // Deep updates land anywhere: a mask, not a branch, so nothing is mispredicted.
                let below = self.key(levels[base &+ half].price) < key
                base &+= half & (0 &- Int(unsafeBitCast(below, to: UInt8.self)))
                length &-= half
            }
            return self.key(levels[base].price) < key ? base &+ 1 : base
        }
        var index = count &- 1
        while index >= scanFloor {
            if self.key(levels[index].price) < key { return index &+ 1 }
            index &-= 1
        }
        return scanFloor
    }

    /// Inserts a level or replaces its quantity (`quantity` must not be zero).
    /// Returns the price of the level dropped because the side was full (the deepest, which
    /// is `price` itself when the new level would be the deepest); nil when none was.
    @inlinable
    func set(price: Price, quantity: Quantity) -> Price? {
        let levels = header.pointee.levels
        let count = self.count
        let index = lowerBound(key(price), in: levels, count: count)
        if index < count && levels[index].price == price {
            levels[index].quantity = quantity
            return nil
        }
        if _slowPath(count == capacity) {
            // Full: the deepest level (index 0) goes, or the new level itself if it is deeper still.
            guard index > 0 else { return price }
            let deepest = levels[0].price
            moveWindow(to: Int(windowStart.pointee) &+ 1)
            header.pointee.count = Int32(truncatingIfNeeded: count &- 1)
            insert(BookLevel(price: price, quantity: quantity), at: index &- 1, count: count &- 1)
            return deepest
        }
        insert(BookLevel(price: price, quantity: quantity), at: index, count: count)
        return nil
    }

    /// Inserts `level` at `index` of `count` levels, moving the shorter part.
    @inlinable @inline(__always)
    func insert(_ level: BookLevel, at index: Int, count: Int) {
        let deeper = index, better = count &- index
        var start = Int(windowStart.pointee)
        if deeper < better {
            if _slowPath(start == 0) {
                recentre(count: count)
                start = Int(windowStart.pointee)
            }
            let levels = header.pointee.levels
            Self.moveLevels(levels, from: 0, to: -1, count: deeper)
            moveWindow(to: start &- 1)
            header.pointee.levels[index] = level
        } else {
            if _slowPath(start &+ count == Self.storageSize(capacity: capacity)) {
                recentre(count: count)
            }
            let levels = header.pointee.levels
            Self.moveLevels(levels, from: index, to: index &+ 1, count: better)
            levels[index] = level
        }
        header.pointee.count = Int32(truncatingIfNeeded: count &+ 1)
    }

    /// Removes the level at `price`; false when there was none.
    @inlinable
    func remove(price: Price) -> Bool {
        let levels = header.pointee.levels
        let count = self.count
        let index = lowerBound(key(price), in: levels, count: count)
        guard index < count && levels[index].price == price else { return false }
        let deeper = index, better = count &- index &- 1
        if deeper < better {
            Self.moveLevels(levels, from: 0, to: 1, count: deeper)
            moveWindow(to: Int(windowStart.pointee) &+ 1)
        } else {
            Self.moveLevels(levels, from: index &+ 1, to: index, count: better)
        }
        header.pointee.count = Int32(truncatingIfNeeded: count &- 1)
        return true
    }

    @inlinable
    func removeAll() {
        header.pointee.count = 0
        moveWindow(to: Self.storageSize(capacity: capacity) &>> 1)
    }

    /// Replaces every level with the nonzero-quantity levels of `snapshot`, keeping the best
    /// `capacity` of them. Returns how many did not fit.
    ///
    /// Venues send snapshots best first with unique prices: that case is two passes and a
    /// straight copy into place. Any other order falls back to one `set` per level. A price
    /// listed twice: the later quantity wins.
    @inlinable
    func replaceAll<Levels: Collection<BookLevel>>(with snapshot: Levels) -> Int {
        var nonZeroCount = 0
        var previousKey = Int64.max
        for level in snapshot where !level.quantity.isZero {
            let key = self.key(level.price)
            if _slowPath(nonZeroCount > 0 && key >= previousKey) {
                return replaceAllOutOfOrder(with: snapshot)
            }
            previousKey = key
            nonZeroCount &+= 1
        }
        let kept = min(nonZeroCount, capacity)
        moveWindow(to: (Self.storageSize(capacity: capacity) &- kept) &>> 1)
        let levels = header.pointee.levels
        // Best first in, best last in storage: fill from the top slot down.
        var slot = kept &- 1
        for level in snapshot where !level.quantity.isZero {
            guard slot >= 0 else { break }
            levels[slot] = level
            slot &-= 1
        }
        header.pointee.count = Int32(truncatingIfNeeded: kept)
        return nonZeroCount &- kept
    }

    @inlinable
    func replaceAllOutOfOrder<Levels: Collection<BookLevel>>(with snapshot: Levels) -> Int {
        removeAll()
        var dropped = 0
        for level in snapshot where !level.quantity.isZero {
            if set(price: level.price, quantity: level.quantity) != nil { dropped &+= 1 }
        }
        return dropped
    }

    /// Visits up to `limit` levels, best first.
    @inlinable
    func forEach<Failure: Error>(limit: Int, _ body: (BookLevel) throws(Failure) -> Void) throws(Failure) {
        let levels = header.pointee.levels
        let count = self.count
        let end = limit < count ? count &- limit : 0
        var index = count &- 1
        while index >= end {
            try body(levels[index])
            index &-= 1
        }
    }

    /// Overlapping-safe move of `count` levels (memmove).
    @inlinable @inline(__always)
    static func moveLevels(_ levels: UnsafeMutablePointer<BookLevel>, from source: Int, to destination: Int, count: Int) {
        UnsafeMutableRawPointer(levels + destination)
            .copyMemory(from: levels + source, byteCount: count &* MemoryLayout<BookLevel>.stride)
    }
}

import TickwireCore

/// What a depth-limited subscription (Bybit `orderbook.50`, Kraken `depth 10`, …) shows of
/// the truth: its best `depth` levels a side. After each generator step, `advance` turns
/// the truth's changes into the changes of this view: levels entering it are sent as
/// inserts, levels leaving it as deletes — except for Kraken, whose clients truncate
/// themselves ("you will not receive qty 0 for levels that fall out of scope"), where only
/// levels that really left the book are deleted.
///
/// A view at least as deep as the generator's sides (`passthrough`) is the whole book: the
/// truth's changes are its changes.
///
/// It also carries the venue sequence of its feed: Bybit's `u` (one per message sent) and
/// OKX's last `seqId` (the truth update id of the last message sent).
public struct DepthView: Sendable {
    public let depth: Int
    public let passthrough: Bool
    public let omitTruncationDeletes: Bool
    public private(set) var bids: [BookLevel] = []
    public private(set) var asks: [BookLevel] = []
    /// Bybit `u` of the last message of this view.
    public var messageSequence: UInt64 = 100_000
    /// OKX `seqId` of the last message of this view.
    public var lastSeqId: UInt64 = 0
    /// The view's changes from the last `advance`.
    public private(set) var changes: [LevelChange] = []
    private var fresh: [BookLevel] = []

    public init(book: TruthBook, depth: Int, maximumLevels: Int, omitTruncationDeletes: Bool) {
        self.depth = depth
        passthrough = depth >= maximumLevels
        self.omitTruncationDeletes = omitTruncationDeletes
        lastSeqId = book.updateId
        if !passthrough {
            bids = book.bids.top(depth)
            asks = book.asks.top(depth)
        }
        changes.reserveCapacity(64)
    }

    /// The view now (best first): what a snapshot of this subscription carries.
    public func levels(of book: TruthBook) -> (bids: [BookLevel], asks: [BookLevel]) {
        passthrough ? book.levels() : (bids, asks)
    }

    /// Applies one generator step (already applied to `book`) to the view.
    public mutating func advance(book: TruthBook, truthChanges: ArraySlice<LevelChange>) {
        changes.removeAll(keepingCapacity: true)
        if passthrough {
            changes.append(contentsOf: truthChanges)
            return
        }
        for side in [Side.bid, Side.ask] {
            let published = side == .bid ? bids : asks
            var affected = false
            if published.count < depth {
                affected = truthChanges.contains { $0.side == side }
            } else {
                let worst = published[published.count - 1].price.mantissa
                affected = truthChanges.contains { $0.side == side && (side == .bid ? $0.price >= worst : $0.price <= worst) }
            }
            guard affected else { continue }
            fresh.removeAll(keepingCapacity: true)
            let truth = book[side]
            var level = 0
            while level < depth && level < truth.count {
                let (price, quantity) = truth.level(atDepth: level)
                fresh.append(BookLevel(price: Price(mantissa: price), quantity: Quantity(mantissa: quantity)))
                level += 1
            }
            diff(side, published, fresh, truth)
            if side == .bid { bids = fresh } else { asks = fresh }
        }
    }

    private mutating func diff(_ side: Side, _ old: [BookLevel], _ new: [BookLevel], _ truth: TruthSide) {
        func better(_ a: Price, _ b: Price) -> Bool { side == .bid ? a > b : a < b }
        var i = 0, j = 0
        func left(_ level: BookLevel) {
            if omitTruncationDeletes && truth.quantity(at: level.price.mantissa) != 0 { return }
            changes.append(LevelChange(side: side, price: level.price.mantissa, quantity: 0))
        }
        while i < old.count || j < new.count {
            if i < old.count && j < new.count && old[i].price == new[j].price {
                if old[i].quantity != new[j].quantity {
                    changes.append(LevelChange(side: side, price: new[j].price.mantissa, quantity: new[j].quantity.mantissa))
                }
                i += 1
                j += 1
            } else if j >= new.count || (i < old.count && better(old[i].price, new[j].price)) {
                left(old[i])
                i += 1
            } else {
                changes.append(LevelChange(side: side, price: new[j].price.mantissa, quantity: new[j].quantity.mantissa))
                j += 1
            }
        }
    }
}

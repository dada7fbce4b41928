import TickwireCore

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, seedable generator. The simulator's
/// output depends only on the seed, so tests can reproduce any run.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (bound > 0); the tiny modulo bias is irrelevant here.
    @inlinable
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// True with probability `numerator / 1024`.
    @inlinable
    public mutating func chance(_ numerator: Int) -> Bool { Int(next() & 1023) < numerator }

    /// Levels from the top: 0 most often, each deeper level about 30% less likely.
    @inlinable
    public mutating func depthFromTop(limit: Int) -> Int {
        var depth = 0
        while depth + 1 < limit && chance(720) { depth += 1 }
        return depth
    }
}

/// One simulated instrument: the venue's symbol name, fixed-point scales and starting price.
public struct SimulatedInstrument: Sendable, Equatable {
    public var name: String
    public var priceScale: Scale
    public var quantityScale: Scale
    /// Starting mid price, as a mantissa at `priceScale`.
    public var initialPrice: Int64
    /// Price tick, in mantissa units.
    public var tick: Int64

    public init(name: String, priceScale: Scale, quantityScale: Scale, initialPrice: Int64, tick: Int64 = 1) {
        self.name = name
        self.priceScale = priceScale
        self.quantityScale = quantityScale
        self.initialPrice = initialPrice
        self.tick = tick
    }

    /// Scales 2 (price) and 4 (quantity); BTC near 60000, ETH near 3000, others near 100.
    public static func standard(_ name: String, priceScale: Scale = Scale(2), quantityScale: Scale = Scale(4)) -> SimulatedInstrument {
        let upper = name.uppercased()
        let units: Int64 = upper.hasPrefix("BTC") || upper.hasPrefix("XBT") ? 60_000 : upper.hasPrefix("ETH") ? 3_000 : 100
        return SimulatedInstrument(name: name, priceScale: priceScale, quantityScale: quantityScale,
                                   initialPrice: units * priceScale.multiplier)
    }
}

/// A level change in the truth book: the absolute quantity (0 = the level is gone).
public struct LevelChange: Sendable, Equatable, BitwiseCopyable {
    public var side: Side
    public var price: Int64
    public var quantity: Int64

    @inlinable
    public init(side: Side, price: Int64, quantity: Int64) {
        self.side = side
        self.price = price
        self.quantity = quantity
    }
}

/// A trade the generator printed (it took liquidity from the opposite side's best level).
public struct GeneratedTrade: Sendable, Equatable {
    public var price: Int64
    public var quantity: Int64
    /// The taker's side: `.bid` = a buyer lifted the offer.
    public var aggressor: Side
    public var tradeId: UInt64
}

/// What one generator step did to one symbol's book: the venue event the encoders turn
/// into messages. Update ids follow Binance's model: each level change is one id, so an
/// event covers `firstUpdateId...lastUpdateId` and the next starts at `lastUpdateId + 1`.
public struct GeneratedUpdate: Sendable {
    public var symbol: Int
    public var firstUpdateId: UInt64
    public var lastUpdateId: UInt64
    /// The previous event's `lastUpdateId` for this symbol (Binance USD-M `pu`).
    public var previousUpdateId: UInt64
    /// Wall-clock time of the event, ns since the epoch.
    public var time: UInt64
    public var trade: GeneratedTrade?
    /// How many entries of `MarketGenerator.changes` belong to this update.
    public var changeCount: Int

    public init(symbol: Int, firstUpdateId: UInt64, lastUpdateId: UInt64, previousUpdateId: UInt64, time: UInt64,
                trade: GeneratedTrade?, changeCount: Int) {
        self.symbol = symbol
        self.firstUpdateId = firstUpdateId
        self.lastUpdateId = lastUpdateId
        self.previousUpdateId = previousUpdateId
        self.time = time
        self.trade = trade
        self.changeCount = changeCount
    }
}

/// One side of a truth book: parallel sorted arrays, BEST LAST (like `BookSide`), so the
/// levels near the top (where almost all churn happens) move little on insert/delete.
public struct TruthSide: Sendable {
    public let side: Side
    /// Ascending "goodness": bids by ascending price, asks by descending price.
    public private(set) var prices: [Int64] = []
    public private(set) var quantities: [Int64] = []

    init(side: Side, capacity: Int) {
        self.side = side
        prices.reserveCapacity(capacity + 1)
        quantities.reserveCapacity(capacity + 1)
    }

    public var count: Int { prices.count }

    @inline(__always)
    func better(_ a: Int64, than b: Int64) -> Bool { side == .bid ? a > b : a < b }

    /// The level `depth` below the top (0 = best).
    @inline(__always)
    public func level(atDepth depth: Int) -> (price: Int64, quantity: Int64) {
        let index = prices.count - 1 - depth
        return (prices[index], quantities[index])
    }

    public var best: Int64? { prices.last }
    public var worst: Int64? { prices.first }

    /// Index where `price` is or would go (keeping the order).
    func position(of price: Int64) -> (index: Int, found: Bool) {
        var index = prices.count - 1
        // Most prices touched are near the top: scan a few, then binary search.
        let floor = max(0, prices.count - 8)
        while index >= floor {
            if prices[index] == price { return (index, true) }
            if better(price, than: prices[index]) { return (index + 1, false) }
            index -= 1
        }
        var low = 0, high = floor
        while low < high {
            let mid = (low + high) / 2
            if prices[mid] == price { return (mid, true) }
            if better(price, than: prices[mid]) { low = mid + 1 } else { high = mid }
        }
        return (low, false)
    }

    public func quantity(at price: Int64) -> Int64 {
        let (index, found) = position(of: price)
        return found ? quantities[index] : 0
    }

    /// Sets the absolute quantity (0 deletes).
    mutating func set(_ price: Int64, _ quantity: Int64) {
        let (index, found) = position(of: price)
        if found {
            if quantity == 0 {
                prices.remove(at: index)
                quantities.remove(at: index)
            } else {
                quantities[index] = quantity
            }
        } else if quantity != 0 {
            prices.insert(price, at: index)
            quantities.insert(quantity, at: index)
        }
    }

    mutating func removeAll() {
        prices.removeAll(keepingCapacity: true)
        quantities.removeAll(keepingCapacity: true)
    }

    /// Up to `limit` levels, best first.
    public func top(_ limit: Int) -> [BookLevel] {
        var levels: [BookLevel] = []
        levels.reserveCapacity(min(limit, count))
        var depth = 0
        while depth < limit && depth < count {
            let (price, quantity) = level(atDepth: depth)
            levels.append(BookLevel(price: Price(mantissa: price), quantity: Quantity(mantissa: quantity)))
            depth += 1
        }
        return levels
    }
}

/// The generator's book of one symbol: the TRUTH every venue encoding is derived from.
public struct TruthBook: Sendable {
    public var bids: TruthSide
    public var asks: TruthSide
    /// The last update id applied (the Binance `u` of the last event, the REST `lastUpdateId`).
    public var updateId: UInt64 = 0

    init(levels: Int) {
        bids = TruthSide(side: .bid, capacity: levels)
        asks = TruthSide(side: .ask, capacity: levels)
    }

    public subscript(side: Side) -> TruthSide {
        get { side == .bid ? bids : asks }
        // In place: a get/set pair would copy the side's arrays on every change.
        _modify {
            if side == .bid { yield &bids } else { yield &asks }
        }
    }

    /// Both sides' best `depth` levels, best first (tests compare books with this).
    public func levels(depth: Int = .max) -> (bids: [BookLevel], asks: [BookLevel]) {
        (bids.top(depth), asks.top(depth))
    }
}

/// Deterministic L2 market: a seeded random walk of each symbol's book with realistic
/// churn. Each `step` picks a symbol and does one of: change a resting quantity (near the
/// top far more often than deep), add a level (sometimes inside the spread, moving the
/// mid by ticks), remove one, or print a trade that eats into the best level of the other
/// side; sometimes several changes at once. Sides stay between `minimumLevels` and
/// `maximumLevels` (the deepest level falls off). Prices and quantities are fixed-point
/// mantissas throughout; the book never crosses.
public struct MarketGenerator: Sendable {
    public let instruments: [SimulatedInstrument]
    public let maximumLevels: Int
    public let minimumLevels: Int
    public private(set) var books: [TruthBook]
    /// The changes of the last `step`, in the order applied (at most one per side and price).
    public private(set) var changes: [LevelChange] = []
    public private(set) var steps: UInt64 = 0
    private var random: SplitMix64
    private var nextTradeId: UInt64 = 1_000_000
    /// Largest resting quantity, in mantissa units (5 units of the base asset at scale 4).
    private let maximumQuantity: [Int64]

    public init(instruments: [SimulatedInstrument], seed: UInt64, maximumLevels: Int = 100, minimumLevels: Int = 20) {
        precondition(!instruments.isEmpty && maximumLevels >= 2 && minimumLevels >= 1 && minimumLevels < maximumLevels)
        self.instruments = instruments
        self.maximumLevels = maximumLevels
        self.minimumLevels = minimumLevels
        random = SplitMix64(seed: seed)
        maximumQuantity = instruments.map { max(1, 5 * $0.quantityScale.multiplier) }
        books = instruments.map { _ in TruthBook(levels: maximumLevels) }
        changes.reserveCapacity(16)
        for symbol in instruments.indices { seedBook(symbol) }
    }

    /// An opening book: `(minimum + maximum) / 2` levels a side, roughly one tick apart.
    private mutating func seedBook(_ symbol: Int) {
        let instrument = instruments[symbol]
        let half = (minimumLevels + maximumLevels) / 2
        var bid = instrument.initialPrice - instrument.tick
        var ask = instrument.initialPrice + instrument.tick
        for _ in 0..<half {
            books[symbol].bids.set(bid, randomQuantity(symbol))
            books[symbol].asks.set(ask, randomQuantity(symbol))
            bid -= instrument.tick * Int64(1 + random.below(3))
            ask += instrument.tick * Int64(1 + random.below(3))
        }
        books[symbol].updateId = 1_000 + UInt64(symbol) * 7
    }

    private mutating func randomQuantity(_ symbol: Int) -> Int64 {
        // Mostly small, sometimes large: the minimum of two uniforms skews low.
        let a = 1 + Int64(random.below(Int(maximumQuantity[symbol])))
        let b = 1 + Int64(random.below(Int(maximumQuantity[symbol])))
        return min(a, b)
    }

    // MARK: stepping

    /// One venue event on a random symbol (see the type's description). `time` is stamped on it.
    public mutating func step(time: UInt64) -> GeneratedUpdate {
        steps &+= 1
        changes.removeAll(keepingCapacity: true)
        let symbol = instruments.count == 1 ? 0 : random.below(instruments.count)
        var trade: GeneratedTrade?
        let roll = random.below(1024)
        if roll < 520 {
            modify(symbol)
        } else if roll < 700 {
            insert(symbol)
        } else if roll < 860 {
            remove(symbol)
        } else if roll < 940 {
            trade = printTrade(symbol)
        } else {
            for _ in 0..<(2 + random.below(3)) {
                switch random.below(3) {
                case 0: modify(symbol)
                case 1: insert(symbol)
                default: remove(symbol)
                }
            }
        }
        if changes.isEmpty { modify(symbol) }
        let previous = books[symbol].updateId
        books[symbol].updateId = previous &+ UInt64(changes.count)
        return GeneratedUpdate(symbol: symbol, firstUpdateId: previous &+ 1, lastUpdateId: books[symbol].updateId,
                               previousUpdateId: previous, time: time, trade: trade, changeCount: changes.count)
    }

    /// Whether this step already changed (side, price): one change per level per event.
    private func touched(_ side: Side, _ price: Int64) -> Bool {
        changes.contains { $0.side == side && $0.price == price }
    }

    private mutating func apply(_ symbol: Int, _ side: Side, _ price: Int64, _ quantity: Int64) {
        books[symbol][side].set(price, quantity)
        changes.append(LevelChange(side: side, price: price, quantity: quantity))
    }

    private mutating func randomSide() -> Side { random.next() & 1 == 0 ? .bid : .ask }

    private mutating func modify(_ symbol: Int) {
        let side = randomSide()
        let book = books[symbol][side]
        guard book.count > 0 else { return insert(symbol) }
        let depth = random.depthFromTop(limit: book.count)
        let price = book.level(atDepth: depth).price
        guard !touched(side, price) else { return }
        apply(symbol, side, price, randomQuantity(symbol))
    }

    private mutating func insert(_ symbol: Int) {
        let side = randomSide()
        let tick = instruments[symbol].tick
        let own = books[symbol][side], other = books[symbol][side == .bid ? .ask : .bid]
        guard let best = own.best, let opposite = other.best else { return }
        // Mostly behind the best; sometimes one tick better (inside the spread when there is room).
        let offset: Int64 = random.chance(160) ? -1 : Int64(random.depthFromTop(limit: 2 * maximumLevels)) + 1
        let price = side == .bid ? best - offset * tick : best + offset * tick
        guard price > 0, side == .bid ? price < opposite : price > opposite else { return modify(symbol) }
        guard !touched(side, price), own.quantity(at: price) == 0 else { return }
        apply(symbol, side, price, randomQuantity(symbol))
        if books[symbol][side].count > maximumLevels, let worst = books[symbol][side].worst, !touched(side, worst) {
            apply(symbol, side, worst, 0)  // the deepest level falls off
        }
    }

    private mutating func remove(_ symbol: Int) {
        let side = randomSide()
        let book = books[symbol][side]
        guard book.count > minimumLevels else { return insert(symbol) }
        let depth = random.depthFromTop(limit: book.count)
        let price = book.level(atDepth: depth).price
        guard !touched(side, price) else { return }
        apply(symbol, side, price, 0)
    }

    /// A taker on `aggressor`'s side takes part or all of the opposite best level.
    private mutating func printTrade(_ symbol: Int) -> GeneratedTrade? {
        let aggressor = randomSide()
        let resting: Side = aggressor == .bid ? .ask : .bid
        let book = books[symbol][resting]
        guard book.count > minimumLevels else { modify(symbol); return nil }
        let (price, quantity) = book.level(atDepth: 0)
        let taken = random.chance(300) ? quantity : 1 + Int64(random.below(Int(quantity)))
        apply(symbol, resting, price, quantity - taken)
        nextTradeId &+= 1
        return GeneratedTrade(price: price, quantity: taken, aggressor: aggressor, tradeId: nextTradeId)
    }
}

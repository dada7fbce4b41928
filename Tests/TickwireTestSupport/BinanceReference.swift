import Foundation
import TickwireCore

/// One published book: the venue update id and the levels, best first.
public struct PublishedBook: Equatable, Sendable, CustomStringConvertible {
    public var updateId: UInt64
    public var bids: [BookLevel]
    public var asks: [BookLevel]

    public init(updateId: UInt64, bids: [BookLevel], asks: [BookLevel]) {
        self.updateId = updateId
        self.bids = bids
        self.asks = asks
    }

    public var description: String { "u=\(updateId) bids \(bids.prefix(3)) asks \(asks.prefix(3))" }
}

/// Binance's documented book sync rules (spot and USD-M), written out plainly for tests to
/// compare Tickwire against: its own parsing (JSONSerialization, string splitting) and its
/// own book (dictionary + sorted prices), no adapter code. It records the top `top` levels
/// after every applied update (snapshot included) and the whole book every `fullEvery`.
public struct BinanceReference {
    public enum Venue: Sendable { case spot, usdm }

    struct Event {
        var first: Int64, last: Int64, previous: Int64
        var bids: [(Int64, Int64)], asks: [(Int64, Int64)]
    }

    struct Side {
        var quantities: [Int64: Int64] = [:]
        /// Ascending prices.
        var prices: [Int64] = []

        mutating func set(_ price: Int64, _ quantity: Int64) {
            var low = 0, high = prices.count
            while low < high {
                let middle = (low + high) / 2
                if prices[middle] < price { low = middle + 1 } else { high = middle }
            }
            let present = low < prices.count && prices[low] == price
            if quantity == 0 {
                if present { prices.remove(at: low) }
                quantities[price] = nil
            } else {
                if !present { prices.insert(price, at: low) }
                quantities[price] = quantity
            }
        }

        func levels(descending: Bool, limit: Int) -> [BookLevel] {
            let ordered = descending ? Array(prices.reversed().prefix(limit)) : Array(prices.prefix(limit))
            return ordered.map { BookLevel(price: Price(mantissa: $0), quantity: Quantity(mantissa: quantities[$0]!)) }
        }
    }

    public let venue: Venue
    public let priceScale: Int
    public let quantityScale: Int
    public let top: Int
    public let fullEvery: Int
    var buffer: [Event] = []
    var synced = false
    var firstPending = false
    var snapshotId: Int64 = 0
    var local: Int64 = 0
    var bids = Side()
    var asks = Side()
    /// Events the rules reject as gaps (the captures have none).
    public private(set) var gaps = 0
    /// Spot step 4 ("the snapshot is older than the first buffered event"), which would mean a refetch.
    public private(set) var staleSnapshots = 0
    /// Every applied update's top levels, in order.
    public private(set) var published: [PublishedBook] = []
    /// The whole book at published indices 0, fullEvery, 2·fullEvery…
    public private(set) var full: [Int: PublishedBook] = [:]

    public init(venue: Venue, priceScale: Int, quantityScale: Int, top: Int = 20, fullEvery: Int = 1000) {
        self.venue = venue
        self.priceScale = priceScale
        self.quantityScale = quantityScale
        self.top = top
        self.fullEvery = fullEvery
    }

    public struct InexactDecimal: Error, CustomStringConvertible {
        public let text: String
        public let scale: Int
        public var description: String { "\(text) is not a decimal exact at scale \(scale)" }
    }

    /// "2683.80000000" at scale 2 -> 268380; digits beyond the scale must be zeros.
    public static func fixed(_ text: String, scale: Int) throws(InexactDecimal) -> Int64 {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        var fraction = parts.count > 1 ? String(parts[1]) : ""
        guard parts.count <= 2, let whole = Int64(parts[0]), fraction.dropFirst(scale).allSatisfy({ $0 == "0" }) else {
            throw InexactDecimal(text: text, scale: scale)
        }
        fraction = String(fraction.prefix(scale)).padding(toLength: scale, withPad: "0", startingAt: 0)
        var multiplier: Int64 = 1
        for _ in 0..<scale { multiplier *= 10 }
        guard let digits = scale > 0 ? Int64(fraction) : 0 else { throw InexactDecimal(text: text, scale: scale) }
        return whole * multiplier + digits
    }

    func levels(_ any: Any?) throws -> [(Int64, Int64)] {
        try (any as! [[String]]).map { (try Self.fixed($0[0], scale: priceScale), try Self.fixed($0[1], scale: quantityScale)) }
    }

    mutating func record() {
        let count = published.count
        if count % fullEvery == 0 { full[count] = fullBook() }
        published.append(PublishedBook(updateId: UInt64(local), bids: bids.levels(descending: true, limit: top),
                                       asks: asks.levels(descending: false, limit: top)))
    }

    public func fullBook() -> PublishedBook {
        PublishedBook(updateId: UInt64(local), bids: bids.levels(descending: true, limit: .max),
                      asks: asks.levels(descending: false, limit: .max))
    }

    /// A recorded line: a combined-stream depth frame or the bare REST snapshot; anything else is ignored.
    public mutating func line(_ frame: Data) throws {
        let object = try JSONSerialization.jsonObject(with: frame) as! [String: Any]
        if object["lastUpdateId"] != nil {
            try snapshot(object)
        } else if let stream = object["stream"] as? String, stream.contains("@depth") {
            try depth(object["data"] as! [String: Any])
        }
    }

    mutating func depth(_ data: [String: Any]) throws {
        let event = Event(first: (data["U"] as! NSNumber).int64Value, last: (data["u"] as! NSNumber).int64Value,
                          previous: (data["pu"] as? NSNumber)?.int64Value ?? -1,
                          bids: try levels(data["b"]), asks: try levels(data["a"]))
        if synced { apply(event, buffered: false) } else { buffer.append(event) }
    }

    mutating func snapshot(_ body: [String: Any]) throws {
        let lastUpdateId = (body["lastUpdateId"] as! NSNumber).int64Value
        if venue == .spot, let first = buffer.first, lastUpdateId < first.first { staleSnapshots += 1 }
        bids = Side()
        asks = Side()
        for (price, quantity) in try levels(body["bids"]) { bids.set(price, quantity) }
        for (price, quantity) in try levels(body["asks"]) { asks.set(price, quantity) }
        snapshotId = lastUpdateId
        local = lastUpdateId
        synced = true
        firstPending = true
        record()
        let buffered = buffer
        buffer = []
        for event in buffered { apply(event, buffered: true) }
    }

    mutating func apply(_ event: Event, buffered: Bool) {
        if firstPending {
            // spot: discard u <= lastUpdateId; USD-M: discard u < lastUpdateId.
            if venue == .spot ? event.last <= snapshotId : event.last < snapshotId { return }
            if venue == .usdm || buffered {
                // The first event kept must have lastUpdateId within [U;u].
                guard event.first <= snapshotId && snapshotId <= event.last else { gaps += 1; return }
            } else if event.first > local + 1 {
                gaps += 1
                return
            }
            firstPending = false
        } else if venue == .spot {
            if event.last < local { return }
            if event.first > local + 1 { gaps += 1; return }
        } else if event.previous != local {
            gaps += 1
            return
        }
        for (price, quantity) in event.bids { bids.set(price, quantity) }
        for (price, quantity) in event.asks { asks.set(price, quantity) }
        local = event.last
        record()
    }
}

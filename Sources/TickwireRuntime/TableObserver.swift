import CTickwire
import TickwireCore
import TickwireVenues

/// `watch --format table`: keeps the top `levels` of every book (copied out on each update
/// into preallocated arrays), and renders a full-screen ANSI view on demand. Rendering builds
/// Strings: it runs at most a few times a second, from the feed's idle callback, never per message.
public struct TableObserver: BookObserver {
    public let levels: Int
    public let venue: Venue
    private let symbols: [String]
    private let priceScales: [Scale]
    private let quantityScales: [Scale]
    private var bids: [BookLevel]
    private var asks: [BookLevel]
    private var bidCounts: [Int]
    private var askCounts: [Int]
    private var valid: [Bool]
    private var reasons: [BookStatus.Reason]
    private var updateIds: [UInt64]
    private var updates: [UInt64]
    private var lastReceive: [UInt64]

    public init(venue: Venue, instruments: InstrumentTable, levels: Int) {
        self.venue = venue
        self.levels = max(1, levels)
        symbols = instruments.definitions.map(\.symbol)
        priceScales = instruments.definitions.map(\.priceScale)
        quantityScales = instruments.definitions.map(\.quantityScale)
        let count = instruments.count
        bids = Array(repeating: BookLevel(price: .zero, quantity: .zero), count: count * self.levels)
        asks = bids
        bidCounts = Array(repeating: 0, count: count)
        askCounts = bidCounts
        valid = Array(repeating: false, count: count)
        reasons = Array(repeating: .snapshotPending, count: count)
        updateIds = Array(repeating: 0, count: count)
        updates = updateIds
        lastReceive = updateIds
    }

    public mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {
        let index = instrument.index
        let start = index * levels
        bidCounts[index] = bids.withUnsafeMutableBufferPointer { book.copyLevels(.bid, into: UnsafeMutableBufferPointer(rebasing: $0[start..<start + levels])) }
        askCounts[index] = asks.withUnsafeMutableBufferPointer { book.copyLevels(.ask, into: UnsafeMutableBufferPointer(rebasing: $0[start..<start + levels])) }
        valid[index] = true
        reasons[index] = .none
        updateIds[index] = venueUpdateId
        updates[index] &+= 1
        lastReceive[index] = receiveTime
    }

    public mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        valid[instrument.index] = false
        reasons[instrument.index] = reason
    }

    /// The whole screen: clear, home, one block per symbol, the status line last.
    public func render(status: String) -> String {
        var out = "\u{1B}[H\u{1B}[2J"
        out += "tickwire watch — \(venue.name)    \(status)\n\n"
        for index in symbols.indices {
            let flag = valid[index] ? "\u{1B}[32mVALID\u{1B}[0m" : "\u{1B}[31mINVALID (\(reasons[index]))\u{1B}[0m"
            out += "\u{1B}[1m\(symbols[index])\u{1B}[0m  \(flag)  update \(updateIds[index])  updates \(updates[index])\n"
            out += pad("bid qty", 18) + pad("bid", 18) + "  " + pad("ask", 18, left: true) + pad("ask qty", 18, left: true) + "\n"
            for row in 0..<levels {
                let bid = row < bidCounts[index] ? bids[index * levels + row] : nil
                let ask = row < askCounts[index] ? asks[index * levels + row] : nil
                if bid == nil && ask == nil { break }
                let bidText = bid.map { (DecimalText.format($0.quantity.mantissa, scale: quantityScales[index], trimTrailingZeros: true),
                                         DecimalText.format($0.price.mantissa, scale: priceScales[index], trimTrailingZeros: true)) } ?? ("", "")
                let askText = ask.map { (DecimalText.format($0.price.mantissa, scale: priceScales[index], trimTrailingZeros: true),
                                         DecimalText.format($0.quantity.mantissa, scale: quantityScales[index], trimTrailingZeros: true)) } ?? ("", "")
                out += pad(bidText.0, 18) + pad(bidText.1, 18) + "  " + pad(askText.0, 18, left: true) + pad(askText.1, 18, left: true) + "\n"
            }
            out += "\n"
        }
        return out
    }

    private func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return left ? text + fill : fill + text
    }
}

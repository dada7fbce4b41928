/// The venues Tickwire speaks to; the raw value is the wire code (docs/PROTOCOL.md).
public enum Venue: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case binanceSpot = 1
    case binanceUSDM = 2
    case bybitLinear = 3
    case bybitSpot = 4
    case okx = 5
    case coinbase = 6
    case kraken = 7

    /// The adapter name used in configuration files and logs.
    public var name: String {
        switch self {
        case .binanceSpot: "binance-spot"
        case .binanceUSDM: "binance-usdm"
        case .bybitLinear: "bybit-linear"
        case .bybitSpot: "bybit-spot"
        case .okx: "okx"
        case .coinbase: "coinbase"
        case .kraken: "kraken"
        }
    }

    public init?(name: String) {
        guard let venue = Venue.allCases.first(where: { $0.name == name }) else { return nil }
        self = venue
    }

    public var description: String { name }
}

/// What an instrument id stands for: venue + symbol, and the scales of its prices and quantities.
public struct InstrumentDefinition: Hashable, Sendable {
    /// Longest symbol the wire format carries (bytes of UTF-8).
    public static let maxSymbolLength = 32

    public var id: InstrumentId
    public var venue: Venue
    public var symbol: String
    public var priceScale: Scale
    public var quantityScale: Scale

    public init(id: InstrumentId, venue: Venue, symbol: String, priceScale: Scale, quantityScale: Scale) {
        precondition(symbol.utf8.count <= Self.maxSymbolLength, "symbol longer than \(Self.maxSymbolLength) bytes")
        self.id = id
        self.venue = venue
        self.symbol = symbol
        self.priceScale = priceScale
        self.quantityScale = quantityScale
    }
}

/// Errors registering instruments (set-up time, never on the hot path).
public enum InstrumentTableError: Error, Equatable, CustomStringConvertible {
    case full(capacity: Int)
    case duplicate(venue: Venue, symbol: String)
    case symbolTooLong(String)

    public var description: String {
        switch self {
        case .full(let capacity): "instrument table is full (\(capacity) instruments)"
        case .duplicate(let venue, let symbol): "instrument \(venue.name):\(symbol) is already defined"
        case .symbolTooLong(let symbol): "symbol '\(symbol)' is longer than \(InstrumentDefinition.maxSymbolLength) bytes"
        }
    }
}

/// Dense instrument ids assigned at set-up: the hot path indexes arrays by `InstrumentId`,
/// and looks symbols up only while wiring venues (a dictionary is fine there).
public struct InstrumentTable: Sendable {
    /// The preallocated size of every per-instrument table (books, sequence state).
    public static let defaultCapacity = 2048

    public let capacity: Int
    public private(set) var definitions: [InstrumentDefinition] = []
    private var idsByKey: [VenueSymbol: InstrumentId] = [:]

    private struct VenueSymbol: Hashable, Sendable {
        var venue: Venue
        var symbol: String
    }

    public init(capacity: Int = InstrumentTable.defaultCapacity) {
        precondition(capacity > 0 && capacity <= Int(UInt16.max) + 1)
        self.capacity = capacity
        definitions.reserveCapacity(capacity)
    }

    public var count: Int { definitions.count }

    /// Registers an instrument and returns its dense id.
    @discardableResult
    public mutating func add(venue: Venue, symbol: String, priceScale: Scale, quantityScale: Scale) throws(InstrumentTableError) -> InstrumentId {
        guard symbol.utf8.count <= InstrumentDefinition.maxSymbolLength else { throw .symbolTooLong(symbol) }
        let key = VenueSymbol(venue: venue, symbol: symbol)
        guard idsByKey[key] == nil else { throw .duplicate(venue: venue, symbol: symbol) }
        guard definitions.count < capacity else { throw .full(capacity: capacity) }
        let id = InstrumentId(UInt16(definitions.count))
        definitions.append(InstrumentDefinition(id: id, venue: venue, symbol: symbol, priceScale: priceScale, quantityScale: quantityScale))
        idsByKey[key] = id
        return id
    }

    public func id(venue: Venue, symbol: String) -> InstrumentId? {
        idsByKey[VenueSymbol(venue: venue, symbol: symbol)]
    }

    public subscript(id: InstrumentId) -> InstrumentDefinition { definitions[id.index] }
}

/// Number of decimal places in a fixed-point value: mantissa × 10^-digits.
/// One scale per instrument for prices and one for quantities (from its definition).
public struct Scale: Hashable, Sendable, Comparable, BitwiseCopyable, CustomStringConvertible {
    /// 0...18: 10^18 is the largest power of ten an Int64 holds.
    public let digits: UInt8

    public static let maxDigits: UInt8 = 18

    @inlinable
    public init?(digits: Int) {
        guard digits >= 0, digits <= Int(Self.maxDigits) else { return nil }
        self.digits = UInt8(digits)
    }

    @inlinable
    public init(_ digits: UInt8) {
        precondition(digits <= Self.maxDigits, "scale beyond 18 decimal places")
        self.digits = digits
    }

    /// 10^digits.
    @inlinable
    public var multiplier: Int64 { powersOfTen[Int(digits)] }

    public static func < (a: Scale, b: Scale) -> Bool { a.digits < b.digits }
    public var description: String { "1e-\(digits)" }
}

/// 10^0 ... 10^18, spelled out so the optimizer places it in static data (no lazy init on use).
@usableFromInline
let powersOfTen: [Int64] = [
    1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
    10_000_000_000, 100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000,
    1_000_000_000_000_000, 10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000,
]

/// A price as an integer count of the instrument's price ticks (10^-scale units).
public struct Price: Hashable, Sendable, Comparable, BitwiseCopyable, CustomStringConvertible {
    public var mantissa: Int64
    @inlinable public init(mantissa: Int64) { self.mantissa = mantissa }
    @inlinable public static func < (a: Price, b: Price) -> Bool { a.mantissa < b.mantissa }
    public static let zero = Price(mantissa: 0)
    public var description: String { "Price(\(mantissa))" }
}

/// A quantity as an integer count of 10^-scale units. Zero on a book level means "delete".
public struct Quantity: Hashable, Sendable, Comparable, BitwiseCopyable, CustomStringConvertible {
    public var mantissa: Int64
    @inlinable public init(mantissa: Int64) { self.mantissa = mantissa }
    @inlinable public static func < (a: Quantity, b: Quantity) -> Bool { a.mantissa < b.mantissa }
    @inlinable public var isZero: Bool { mantissa == 0 }
    public static let zero = Quantity(mantissa: 0)
    public var description: String { "Quantity(\(mantissa))" }
}

/// Book side.
public enum Side: UInt8, Sendable, CaseIterable, BitwiseCopyable {
    case bid = 0
    case ask = 1
}

/// Dense instrument id: an index into preallocated tables (no hashing on the hot path).
public struct InstrumentId: Hashable, Sendable, Comparable, BitwiseCopyable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable public init(_ rawValue: UInt16) { self.rawValue = rawValue }
    @inlinable public var index: Int { Int(rawValue) }
    public static func < (a: InstrumentId, b: InstrumentId) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "#\(rawValue)" }
}

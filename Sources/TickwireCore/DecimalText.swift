/// Why a decimal text could not become an exact fixed-point value.
public enum DecimalParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No digits at all.
    case empty
    /// A byte that cannot appear in a decimal number, at this offset.
    case invalidCharacter(offset: Int)
    /// The value has non-zero digits below the scale (e.g. "0.123" at scale 2): rounding would lie.
    case inexact
    /// The value does not fit an Int64 mantissa at this scale.
    case overflow

    public var description: String {
        switch self {
        case .empty: "no digits"
        case .invalidCharacter(let offset): "unexpected character at offset \(offset)"
        case .inexact: "more decimal places than the instrument's scale"
        case .overflow: "value too large for a 64-bit fixed-point number at this scale"
        }
    }
}

/// Exact conversion between ASCII decimal text and Int64 fixed-point mantissas.
///
/// Accepts `-?digits(.digits)?([eE][+-]?digits)?` (JSON numbers and the venues' quoted
/// decimals). Trailing zeros beyond the scale are fine ("1.50000000" at scale 2);
/// non-zero digits beyond it are an error, never rounded. No Double anywhere.
public enum DecimalText {
    /// The longest text `format` writes: sign, 19 digits, point, leading "0".
    public static let maxFormattedLength = 22

    /// Parses `count` bytes at `start` into a mantissa at `scale`.
    @inlinable
    public static func parse(_ start: UnsafePointer<UInt8>, count: Int, scale: Scale) throws(DecimalParseError) -> Int64 {
        var index = 0
        var negative = false
        if count > 0 && start[0] == UInt8(ascii: "-") {
            negative = true
            index = 1
        }
        var digits: UInt64 = 0          // significant digits seen, trailing fraction zeros held back
        var heldZeros = 0               // fraction zeros not yet multiplied in
        var fractionDigits = 0          // fraction digits up to the last non-zero one
        var sawDigit = false
        var inFraction = false

        while index < count {
            let byte = start[index]
            let digit = byte &- UInt8(ascii: "0")
            if _fastPath(digit < 10) {
                sawDigit = true
                if inFraction {
                    if digit == 0 {
                        heldZeros += 1
                    } else {
                        if digits != 0 {
                            guard heldZeros < 19 else { throw .overflow }
                            digits = try multiply(digits, byPowerOfTen: heldZeros)
                        }
                        fractionDigits += heldZeros + 1
                        heldZeros = 0
                        digits = try appendDigit(digits, digit)
                    }
                } else {
                    digits = try appendDigit(digits, digit)
                }
            } else if byte == UInt8(ascii: ".") && !inFraction && sawDigit {
                inFraction = true
                // A point must be followed by a digit ("1." is not a number).
                guard index + 1 < count, start[index + 1] &- UInt8(ascii: "0") < 10 else {
                    throw .invalidCharacter(offset: index)
                }
            } else if (byte | 0x20) == UInt8(ascii: "e") && sawDigit {
                let exponent = try parseExponent(start, from: index + 1, count: count)
                return try finish(digits, fractionDigits: fractionDigits - exponent, scale: scale, negative: negative)
            } else {
                throw .invalidCharacter(offset: index)
            }
            index += 1
        }
        guard sawDigit else { throw .empty }
        return try finish(digits, fractionDigits: fractionDigits, scale: scale, negative: negative)
    }

    /// Parses a buffer of ASCII bytes (e.g. a slice of a received frame).
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer, scale: Scale) throws(DecimalParseError) -> Int64 {
        guard let base = bytes.baseAddress else { throw .empty }
        return try parse(base.assumingMemoryBound(to: UInt8.self), count: bytes.count, scale: scale)
    }

    /// Parses a String (configuration, tests); not for the hot path.
    public static func parse(_ text: String, scale: Scale) throws(DecimalParseError) -> Int64 {
        var text = text
        // withUTF8 only rethrows untyped errors: carry the typed one out in a Result.
        let result = text.withUTF8 { utf8 -> Result<Int64, DecimalParseError> in
            guard let base = utf8.baseAddress else { return .failure(.empty) }
            return Result { () throws(DecimalParseError) in try parse(base, count: utf8.count, scale: scale) }
        }
        return try result.get()
    }

    // MARK: formatting

    /// Writes `mantissa` × 10^-scale as decimal text into `buffer` (at least
    /// `maxFormattedLength` bytes) and returns the length. With `trimTrailingZeros`,
    /// "1.50" becomes "1.5" and "2.00" becomes "2".
    @inlinable
    public static func format(_ mantissa: Int64, scale: Scale, trimTrailingZeros: Bool = false, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        precondition(buffer.count >= maxFormattedLength, "format buffer too small")
        // Build right to left in a 24-byte scratch held in registers/stack, then copy.
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &scratch) { tmp -> Int in
            var position = tmp.count
            var magnitude = mantissa.magnitude
            var fraction = Int(scale.digits)
            var trimming = trimTrailingZeros
            while fraction > 0 {
                let digit = UInt8(magnitude % 10)
                magnitude /= 10
                fraction -= 1
                if trimming && digit == 0 { continue }
                trimming = false
                position -= 1
                tmp[position] = UInt8(ascii: "0") + digit
            }
            if position < tmp.count {
                position -= 1
                tmp[position] = UInt8(ascii: ".")
            }
            repeat {
                position -= 1
                tmp[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if mantissa < 0 {
                position -= 1
                tmp[position] = UInt8(ascii: "-")
            }
            let length = tmp.count - position
            buffer.baseAddress!.copyMemory(from: tmp.baseAddress! + position, byteCount: length)
            return length
        }
    }

    /// The decimal text as a String (logs, CLI, tests); not for the hot path.
    public static func format(_ mantissa: Int64, scale: Scale, trimTrailingZeros: Bool = false) -> String {
        withUnsafeTemporaryAllocation(byteCount: maxFormattedLength, alignment: 1) { buffer in
            let length = format(mantissa, scale: scale, trimTrailingZeros: trimTrailingZeros, into: buffer)
            return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<length]), as: UTF8.self)
        }
    }

    // MARK: helpers

    @usableFromInline @inline(__always)
    static func appendDigit(_ value: UInt64, _ digit: UInt8) throws(DecimalParseError) -> UInt64 {
        let (times10, o1) = value.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(UInt64(digit))
        if _slowPath(o1 || o2) { throw .overflow }
        return sum
    }

    @usableFromInline @inline(__always)
    static func multiply(_ value: UInt64, byPowerOfTen power: Int) throws(DecimalParseError) -> UInt64 {
        let (product, overflow) = value.multipliedReportingOverflow(by: UInt64(powersOfTen[power]))
        if _slowPath(overflow) { throw .overflow }
        return product
    }

    @usableFromInline
    static func parseExponent(_ start: UnsafePointer<UInt8>, from first: Int, count: Int) throws(DecimalParseError) -> Int {
        var index = first
        var negative = false
        if index < count && (start[index] == UInt8(ascii: "-") || start[index] == UInt8(ascii: "+")) {
            negative = start[index] == UInt8(ascii: "-")
            index += 1
        }
        guard index < count else { throw .invalidCharacter(offset: index) }
        var exponent = 0
        while index < count {
            let digit = start[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw .invalidCharacter(offset: index) }
            exponent = exponent * 10 + Int(digit)
            // Any exponent this large over- or underflows every scale; stop before Int overflows.
            if exponent > 400 { throw negative ? .inexact : .overflow }
            index += 1
        }
        return negative ? -exponent : exponent
    }

    /// Scales `digits` × 10^-fractionDigits to `scale`, exactly, with the sign applied.
    @usableFromInline @inline(__always)
    static func finish(_ digits: UInt64, fractionDigits: Int, scale: Scale, negative: Bool) throws(DecimalParseError) -> Int64 {
        if digits == 0 { return 0 }
        let shift = Int(scale.digits) - fractionDigits
        var magnitude = digits
        if shift > 0 {
            guard shift <= 18 else { throw .overflow }
            magnitude = try multiply(magnitude, byPowerOfTen: shift)
        } else if shift < 0 {
            // Only whole-number trailing zeros can be divided away ("100e-2" at scale 0).
            guard -shift <= 18 else { throw .inexact }
            let divisor = UInt64(powersOfTen[-shift])
            let (quotient, remainder) = magnitude.quotientAndRemainder(dividingBy: divisor)
            guard remainder == 0 else { throw .inexact }
            magnitude = quotient
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw .overflow }
            return Int64(truncatingIfNeeded: 0 &- magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw .overflow }
        return Int64(magnitude)
    }
}

extension Price {
    /// The exact price `text` at `scale` (configuration, tests).
    public init(_ text: String, scale: Scale) throws(DecimalParseError) {
        self.init(mantissa: try DecimalText.parse(text, scale: scale))
    }
    public func text(scale: Scale, trimTrailingZeros: Bool = false) -> String {
        DecimalText.format(mantissa, scale: scale, trimTrailingZeros: trimTrailingZeros)
    }
}

extension Quantity {
    /// The exact quantity `text` at `scale` (configuration, tests).
    public init(_ text: String, scale: Scale) throws(DecimalParseError) {
        self.init(mantissa: try DecimalText.parse(text, scale: scale))
    }
    public func text(scale: Scale, trimTrailingZeros: Bool = false) -> String {
        DecimalText.format(mantissa, scale: scale, trimTrailingZeros: trimTrailingZeros)
    }
}

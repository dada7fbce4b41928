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
        var cursor = start
        if let value = parsePlain(&cursor, end: start + count, scaleDigits: Int(scale.digits), multiplier: powerOfTen(scale)),
           _fastPath(cursor == start + count) {
            return value
        }
        return try parseGeneral(start, count: count, scale: scale)
    }

    /// The whole grammar (signs, exponents) with a typed error for anything else.
    @inlinable
    static func parseGeneral(_ start: UnsafePointer<UInt8>, count: Int, scale: Scale) throws(DecimalParseError) -> Int64 {
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

    // MARK: plain decimals, word at a time

    /// The mantissa of plain `digits[.digits]` text at `cursor` (what venues send for prices
    /// and quantities), read up to the first byte that is neither (or `end`), with `cursor`
    /// moved there. Nil, with `cursor` untouched, for anything else: no digits, a point with
    /// no digit after it, more than 18 integer digits, nonzero digits below the scale, more
    /// than 63 bits; `parse`'s general reading then gives the value or the typed error, so
    /// where this answers it answers the same. `multiplier` is `powerOfTen(scale)`.
    ///
    /// Up to 8 digits on each side of the point are read as one 64-bit word (no per-digit
    /// branch); longer runs go digit by digit.
    @inlinable @inline(__always)
    public static func parsePlain(
        _ cursor: inout UnsafePointer<UInt8>, end: UnsafePointer<UInt8>, scaleDigits: Int, multiplier: UInt64
    ) -> Int64? {
        var p = cursor
        var integer: UInt64 = 0
        var integerDigits = 0
        if _fastPath(end - p >= 8) {
            let chunk = loadWord(p)
            let flags = digitFlags(chunk)
            if _fastPath(flags != 0) {
                integerDigits = flags.trailingZeroBitCount &>> 3
                integer = eightDigitNumber(chunk, digits: integerDigits)
                p += integerDigits
            }
        }
        if integerDigits == 0 {
            while p < end {
                let digit = p.pointee &- UInt8(ascii: "0")
                if digit >= 10 { break }
                integer = integer &* 10 &+ UInt64(digit)
                p += 1
            }
            integerDigits = p - cursor
        }
        guard _fastPath(integerDigits > 0 && integerDigits <= 18) else { return nil }
        var fraction: UInt64 = 0
        var fractionDigits = 0
        if p < end && p.pointee == UInt8(ascii: ".") {
            p += 1
            let fractionStart = p
            var read = false
            if _fastPath(end - p >= 8) {
                let chunk = loadWord(p)
                let flags = digitFlags(chunk)
                let digits = flags == 0 ? 8 : flags.trailingZeroBitCount &>> 3
                // The whole fraction is in the word unless 8 digits fill it and more follow.
                if _fastPath(digits < 8 || end - p == 8 || p[8] &- UInt8(ascii: "0") >= 10) {
                    let kept = min(digits, scaleDigits)
                    // Digits below the scale must be zeros (else inexact: the general reading says so).
                    guard (chunk ^ 0x3030_3030_3030_3030) & byteMask(from: kept, to: digits) == 0 else { return nil }
                    fraction = eightDigitNumber(chunk, digits: kept)
                    fractionDigits = kept
                    p += digits
                    read = true
                }
            }
            if !read {
                while p < end {
                    let digit = p.pointee &- UInt8(ascii: "0")
                    if digit >= 10 { break }
                    if fractionDigits < scaleDigits {
                        fraction = fraction &* 10 &+ UInt64(digit)
                        fractionDigits &+= 1
                    } else if digit != 0 {
                        return nil
                    }
                    p += 1
                }
            }
            guard _fastPath(p != fractionStart) else { return nil }
        }
        while fractionDigits < scaleDigits {
            fraction &*= 10
            fractionDigits &+= 1
        }
        let (scaled, overflow) = integer.multipliedReportingOverflow(by: multiplier)
        let (mantissa, carry) = scaled.addingReportingOverflow(fraction)
        guard _fastPath(!overflow && !carry && mantissa <= UInt64(Int64.max)) else { return nil }
        cursor = p
        return Int64(mantissa)
    }

    /// 10^scale by multiplication (the global table's lazy-init check would sit in hot loops).
    @inlinable @inline(__always)
    public static func powerOfTen(_ scale: Scale) -> UInt64 {
        var value: UInt64 = 1
        var digits = scale.digits
        while digits > 0 {
            value &*= 10
            digits &-= 1
        }
        return value
    }

    /// 8 bytes at `p`, the first in the low byte.
    @inlinable @inline(__always)
    static func loadWord(_ p: UnsafePointer<UInt8>) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self))
    }

    /// 0x80 in every byte of `chunk` (little-endian: the first character in the low byte)
    /// that is not an ASCII digit; 0 when all 8 are digits. (A byte is a digit when
    /// (byte ^ 0x30) < 10; a carry only leaves a flagged byte, upward, so the lowest flag is exact.)
    @inlinable @inline(__always)
    static func digitFlags(_ chunk: UInt64) -> UInt64 {
        let t = chunk ^ 0x3030_3030_3030_3030
        return (t | (t &+ 0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080
    }

    /// The number the first `digits` (0...8) bytes of `chunk` spell (all ASCII digits).
    @inlinable @inline(__always)
    static func eightDigitNumber(_ chunk: UInt64, digits: Int) -> UInt64 {
        guard digits > 0 else { return 0 }
        // Shift the digits to the top so the bytes below read as leading zeros.
        var value = (chunk << UInt64((8 &- digits) &* 8)) & 0x0F0F_0F0F_0F0F_0F0F
        value = (value &* 2561) >> 8
        value = ((value & 0x00FF_00FF_00FF_00FF) &* 6_553_601) >> 16
        return ((value & 0x0000_FFFF_0000_FFFF) &* 42_949_672_960_001) >> 32
    }

    /// Bytes `from..<to` (to <= 8) of a 64-bit word set to 0xFF.
    @inlinable @inline(__always)
    static func byteMask(from: Int, to: Int) -> UInt64 {
        let upper: UInt64 = to >= 8 ? ~0 : (1 << UInt64(to &* 8)) &- 1
        let lower: UInt64 = (1 << UInt64(from &* 8)) &- 1
        return upper & ~lower
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

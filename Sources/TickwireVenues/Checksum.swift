import CTickwire
import TickwireCore

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`), fed incrementally without allocation.
public struct CRC32: Sendable {
    public private(set) var value: UInt32 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        value = ctw_crc32_update(value, bytes.baseAddress, bytes.count)
    }

    public mutating func update(_ text: String) {
        var text = text
        text.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }
}

extension VenueChecksum {
    /// Whether `book` (prices at `priceScale`, quantities at `quantityScale`) has the checksum
    /// the venue sent. `.none` always matches.
    public func matches(_ book: OrderBook, priceScale: Scale, quantityScale: Scale) -> Bool {
        switch self {
        case .none:
            return true
        case .okxTop25(let expected):
            return Int32(bitPattern: Self.okxChecksum(book, priceScale: priceScale, quantityScale: quantityScale)) == expected
        case .krakenTop10(let expected):
            return Self.krakenChecksum(book) == expected
        }
    }

    /// OKX: "bidPx:bidSz:askPx:askSz:…" over the top 25 of each side, interleaved; a side
    /// with fewer levels simply contributes fewer entries. Numbers as OKX writes them: no
    /// trailing zeros ("3366" not "3366.0").
    static func okxChecksum(_ book: OrderBook, priceScale: Scale, quantityScale: Scale) -> UInt32 {
        withUnsafeTemporaryAllocation(of: BookLevel.self, capacity: 50) { levels in
            let bids = book.copyLevels(.bid, into: UnsafeMutableBufferPointer(rebasing: levels[0..<25]))
            let asks = book.copyLevels(.ask, into: UnsafeMutableBufferPointer(rebasing: levels[25..<50]))
            return ChecksumText.crc32 { text in
                func append(_ level: BookLevel) {
                    text.makeRoomForLevel()
                    text.appendDecimal(level.price.mantissa, scale: priceScale, trimmed: true)
                    text.append(UInt8(ascii: ":"))
                    text.appendDecimal(level.quantity.mantissa, scale: quantityScale, trimmed: true)
                    text.append(UInt8(ascii: ":"))
                }
                for index in 0..<max(bids, asks) {
                    if index < bids { append(levels[index]) }
                    if index < asks { append(levels[25 + index]) }
                }
                text.dropLastSeparator()
            }
        }
    }

    /// Kraken v2: the top 10 asks (low to high) then the top 10 bids (high to low), each
    /// price and quantity written at the pair's precision with the point and leading zeros
    /// removed. The scales must equal the pair's `price_precision` / `qty_precision`.
    static func krakenChecksum(_ book: OrderBook) -> UInt32 {
        ChecksumText.crc32 { text in
            // A mantissa at the pair's precision *is* the digits without the point; printing it
            // as an integer also drops the leading zeros.
            func append(_ level: BookLevel) {
                text.makeRoomForLevel()
                text.appendDecimal(level.price.mantissa, scale: Scale(0), trimmed: false)
                text.appendDecimal(level.quantity.mantissa, scale: Scale(0), trimmed: false)
            }
            book.forEachLevel(.ask, limit: 10, append)
            book.forEachLevel(.bid, limit: 10, append)
        }
    }
}

/// A checksum's text, written into a stack buffer and hashed a buffer-full at a time (one
/// CRC call per ~1 KiB instead of one per number). Numbers are written as `DecimalText.format`
/// writes them, eight digits at a time (two for longer numbers), without its scratch copy.
struct ChecksumText: ~Copyable {
    /// Stays within what `withUnsafeTemporaryAllocation` always puts on the stack.
    static let capacity = 1024
    /// The most one level writes (two numbers, two separators) and the 7 bytes an 8-byte
    /// digit store may write past its end.
    static let levelRoom = 2 * DecimalText.maxFormattedLength + 2 + 7

    private let buffer: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var crc = CRC32()

    private init(buffer: UnsafeMutablePointer<UInt8>) { self.buffer = buffer }

    /// The CRC-32 of the text `write` produces.
    static func crc32(_ write: (inout ChecksumText) -> Void) -> UInt32 {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { storage in
            var text = ChecksumText(buffer: storage.baseAddress!)
            write(&text)
            text.flush()
            return text.crc.value
        }
    }

    /// Call before each level: hashes what is buffered when a level might not fit.
    @inline(__always)
    mutating func makeRoomForLevel() {
        if count > Self.capacity - Self.levelRoom { flush() }
    }

    /// Removes a trailing ":" (written after every level, the last one has none). The level
    /// was written after `makeRoomForLevel`, so it is still in the buffer.
    mutating func dropLastSeparator() {
        if count > 0 && buffer[count - 1] == UInt8(ascii: ":") { count -= 1 }
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        buffer[count] = byte
        count &+= 1
    }

    /// `mantissa` × 10^-scale; with `trimmed`, no trailing fraction zeros ("1.5", "2").
    @inline(__always)
    mutating func appendDecimal(_ mantissa: Int64, scale: Scale, trimmed: Bool) {
        if mantissa < 0 { append(UInt8(ascii: "-")) }
        let magnitude = mantissa.magnitude
        let fractionDigits = Int(scale.digits)
        guard _fastPath(fractionDigits <= 8 && magnitude < 10_000_000_000_000_000) else {
            return appendDecimalByPairs(magnitude, fractionDigits: fractionDigits, trimmed: trimmed)
        }
        // The 16 digits as two words of digit bytes: the fraction is the last `fractionDigits`
        // bytes of `low`, the whole part `high` then the rest of `low`.
        let high = Self.digitBytes(magnitude / 100_000_000), low = Self.digitBytes(magnitude % 100_000_000)
        let wholeInLow = 8 &- fractionDigits
        if magnitude >= 100_000_000 {
            let leadingZeros = high.trailingZeroBitCount &>> 3
            appendDigitBytes(high &>> (leadingZeros &<< 3), count: 8 &- leadingZeros)
            appendDigitBytes(low, count: wholeInLow)
        } else if wholeInLow == 0 {
            append(UInt8(ascii: "0"))
        } else {
            let whole = wholeInLow == 8 ? low : low & ((1 &<< (wholeInLow &<< 3)) &- 1)
            let leadingZeros = min(whole.trailingZeroBitCount &>> 3, wholeInLow &- 1)  // "0" stays
            appendDigitBytes(low &>> (leadingZeros &<< 3), count: wholeInLow &- leadingZeros)
        }
        guard fractionDigits > 0 else { return }
        let fraction = low &>> (wholeInLow &<< 3)
        let length = trimmed ? 8 &- (fraction.leadingZeroBitCount &>> 3) : fractionDigits
        guard length > 0 else { return }
        append(UInt8(ascii: "."))
        appendDigitBytes(fraction, count: length)
    }

    /// The 8 decimal digits of `value` (< 10^8, zero-padded) as byte values 0...9, the first
    /// digit in the lowest byte: both 4-digit halves, then their 2-digit halves, then digits,
    /// split by multiply-and-shift in parallel lanes (exhaustively checked for all 10^8 values).
    @inline(__always)
    static func digitBytes(_ value: UInt64) -> UInt64 {
        let halves = (value / 10_000) | ((value % 10_000) &<< 32)
        let hundreds = ((halves &* 10_486) &>> 20) & 0x0000_007F_0000_007F
        let pairs = ((halves &- hundreds &* 100) &<< 16) | hundreds
        let tens = ((pairs &* 103) &>> 10) & 0x000F_000F_000F_000F
        return tens | ((pairs &- tens &* 10) &<< 8)
    }

    /// Stores all 8 digit bytes as ASCII (little-endian: the lowest byte first) and keeps the
    /// first `digits`; the rest is overwritten by what follows (`levelRoom` leaves the slack).
    @inline(__always)
    private mutating func appendDigitBytes(_ digitBytes: UInt64, count digits: Int) {
        UnsafeMutableRawPointer(buffer + count).storeBytes(of: (digitBytes | 0x3030_3030_3030_3030).littleEndian, as: UInt64.self)
        count &+= digits
    }

    /// Numbers of more than 16 digits or 8 decimals, two digits a step.
    private mutating func appendDecimalByPairs(_ magnitude: UInt64, fractionDigits: Int, trimmed: Bool) {
        var magnitude = magnitude
        var fractionDigits = fractionDigits
        if trimmed {
            while fractionDigits > 0 && magnitude % 10 == 0 {
                magnitude /= 10
                fractionDigits &-= 1
            }
        }
        guard fractionDigits > 0 else { return appendDigits(magnitude, count: Self.digitCount(magnitude)) }
        let (whole, fraction) = magnitude.quotientAndRemainder(dividingBy: Self.powersOfTen[fractionDigits])
        appendDigits(whole, count: Self.digitCount(whole))
        append(UInt8(ascii: "."))
        appendDigits(fraction, count: fractionDigits)
    }

    /// The last `digits` decimal digits of `value`, zero-padded on the left.
    @inline(__always)
    private mutating func appendDigits(_ value: UInt64, count digits: Int) {
        var value = value
        var position = count &+ digits
        let pairs = UnsafeRawPointer(Self.digitPairs.utf8Start)
        while position &- count >= 2 {
            let (quotient, remainder) = value.quotientAndRemainder(dividingBy: 100)
            position &-= 2
            UnsafeMutableRawPointer(buffer + position).storeBytes(
                of: pairs.loadUnaligned(fromByteOffset: Int(remainder) &* 2, as: UInt16.self), as: UInt16.self)
            value = quotient
        }
        if position > count { buffer[count] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10) }
        count &+= digits
    }

    /// Decimal digits of `value` (1 for 0).
    @inline(__always)
    static func digitCount(_ value: UInt64) -> Int {
        // ⌊log10⌋ from the bit length (1233/4096 ≈ log10 2), corrected by one comparison;
        // `value | 1` makes 0 count as 1 digit and never crosses a power of ten otherwise.
        let bits = 64 &- (value | 1).leadingZeroBitCount
        let guess = (bits &* 1233) &>> 12
        return guess &+ ((value | 1) >= powersOfTen[guess] ? 1 : 0)
    }

    private static let powersOfTen: [UInt64] = [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000,
        100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000, 1_000_000_000_000_000,
        10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000, 10_000_000_000_000_000_000,
    ]

    /// "00" "01" … "99": the two digits of each remainder by 100.
    private static let digitPairs: StaticString =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

    private mutating func flush() {
        guard count > 0 else { return }
        crc.update(UnsafeRawBufferPointer(start: buffer, count: count))
        count = 0
    }
}

import TickwireCore

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`), fed incrementally without allocation.
public struct CRC32: Sendable {
    public private(set) var value: UInt32 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var crc = ~value
        for byte in bytes {
            crc = crc32Table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        value = ~crc
    }

    public mutating func update(_ text: String) {
        var text = text
        text.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    mutating func update(byte: UInt8) {
        withUnsafeBytes(of: byte) { update($0) }
    }
}

private let crc32Table: [UInt32] = (0..<256).map { index -> UInt32 in
    var crc = UInt32(index)
    for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
    return crc
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
        var crc = CRC32()
        var first = true
        func append(_ level: BookLevel) {
            if !first { crc.update(byte: UInt8(ascii: ":")) }
            first = false
            appendDecimal(level.price.mantissa, scale: priceScale, trimmed: true, to: &crc)
            crc.update(byte: UInt8(ascii: ":"))
            appendDecimal(level.quantity.mantissa, scale: quantityScale, trimmed: true, to: &crc)
        }
        withUnsafeTemporaryAllocation(of: BookLevel.self, capacity: 50) { levels in
            let bids = book.copyLevels(.bid, into: UnsafeMutableBufferPointer(rebasing: levels[0..<25]))
            let asks = book.copyLevels(.ask, into: UnsafeMutableBufferPointer(rebasing: levels[25..<50]))
            for index in 0..<max(bids, asks) {
                if index < bids { append(levels[index]) }
                if index < asks { append(levels[25 + index]) }
            }
        }
        return crc.value
    }

    /// Kraken v2: the top 10 asks (low to high) then the top 10 bids (high to low), each
    /// price and quantity written at the pair's precision with the point and leading zeros
    /// removed. The scales must equal the pair's `price_precision` / `qty_precision`.
    static func krakenChecksum(_ book: OrderBook) -> UInt32 {
        var crc = CRC32()
        // A mantissa at the pair's precision *is* the digits without the point; printing it
        // as an integer also drops the leading zeros.
        func append(_ level: BookLevel) {
            appendDecimal(level.price.mantissa, scale: Scale(0), trimmed: false, to: &crc)
            appendDecimal(level.quantity.mantissa, scale: Scale(0), trimmed: false, to: &crc)
        }
        book.forEachLevel(.ask, limit: 10, append)
        book.forEachLevel(.bid, limit: 10, append)
        return crc.value
    }

    private static func appendDecimal(_ mantissa: Int64, scale: Scale, trimmed: Bool, to crc: inout CRC32) {
        withUnsafeTemporaryAllocation(byteCount: DecimalText.maxFormattedLength, alignment: 1) { buffer in
            let length = DecimalText.format(mantissa, scale: scale, trimTrailingZeros: trimmed, into: buffer)
            crc.update(UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
        }
    }

}

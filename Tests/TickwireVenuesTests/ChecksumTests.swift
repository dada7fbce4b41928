import CTickwire
import Testing
import TickwireCore
@testable import TickwireVenues

/// The checksums' text and CRC built the plain way (the definitions, not the fast code): a
/// bit-at-a-time CRC-32 and `DecimalText.format` / integer printing joined into a String.
enum ReferenceChecksum {
    static func crc32(_ bytes: some Sequence<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
        var crc = ~crc
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        return ~crc
    }

    static func levels(_ book: OrderBook, _ side: Side, limit: Int) -> [BookLevel] {
        var levels: [BookLevel] = []
        book.forEachLevel(side, limit: limit) { levels.append($0) }
        return levels
    }

    static func okxText(_ book: OrderBook, priceScale: Scale, quantityScale: Scale) -> String {
        let bids = levels(book, .bid, limit: 25), asks = levels(book, .ask, limit: 25)
        func text(_ level: BookLevel) -> String {
            level.price.text(scale: priceScale, trimTrailingZeros: true) + ":" + level.quantity.text(scale: quantityScale, trimTrailingZeros: true)
        }
        var entries: [String] = []
        for index in 0..<max(bids.count, asks.count) {
            if index < bids.count { entries.append(text(bids[index])) }
            if index < asks.count { entries.append(text(asks[index])) }
        }
        return entries.joined(separator: ":")
    }

    static func krakenText(_ book: OrderBook) -> String {
        (levels(book, .ask, limit: 10) + levels(book, .bid, limit: 10)).map { "\($0.price.mantissa)\($0.quantity.mantissa)" }.joined()
    }

    /// Mantissas around every length and trailing-zero count an Int64 has.
    static let mantissas: [Int64] = {
        var values: Set<Int64> = [5, 120, 1005, 12_345, 3_366_100, 123_456_789, 100_000_001, 301_472_204, 99_999_999_999,
                                  6_000_001_472_204, 9_876_543_210_987_654, 98_765_432_109_876_543, .max]
        for digits in 0...18 {
            let power = Int64(Scale(UInt8(digits)).multiplier)
            values.formUnion([power, power + 1, power + power / 2, power * 9])
            if power > 1 { values.insert(power - 1) }
        }
        return values.sorted()
    }()
}

@Suite struct CRC32ImplementationTests {
    static let bytes: [UInt8] = (0..<700).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ ($0 >> 3) &+ 7) }

    @Test func bothPathsMatchTheBitwiseDefinitionAtEveryLengthAndAlignment() {
        Self.bytes.withUnsafeBytes { all in
            for offset in 0..<16 {
                for length in 0...(all.count - offset) {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                    let expected = ReferenceChecksum.crc32(slice, continuing: 0x1234_5678)
                    #expect(ctw_crc32_update(0x1234_5678, slice.baseAddress, length) == expected, "offset \(offset) length \(length)")
                    #expect(ctw_crc32_update_portable(0x1234_5678, slice.baseAddress, length) == expected, "offset \(offset) length \(length)")
                }
            }
        }
    }

    @Test func updatesInPiecesEqualOneUpdate() {
        Self.bytes.withUnsafeBytes { all in
            let whole = ReferenceChecksum.crc32(all)
            for split in stride(from: 0, through: all.count, by: 7) {
                var crc = CRC32()
                crc.update(UnsafeRawBufferPointer(rebasing: all[..<split]))
                crc.update(UnsafeRawBufferPointer(rebasing: all[split...]))
                #expect(crc.value == whole, "split at \(split)")
            }
        }
    }

    @Test func krakenSDKWorkedExampleStringHasItsDocumentedChecksum() {
        var crc = CRC32()
        crc.update("45285210000045286415457195345286615457110945289615456091145290215890660452918154553491452947445474945296135380000452975994554245299518772827452835100000004528341545820154528211000000045281010000000452803154592586452790799000045277633101034527753000000045277315460273745276615445238")
        #expect(crc.value == 3_310_070_434)
    }
}

@Suite struct ChecksumTextTests {
    @Test func decimalsMatchDecimalTextFormatAtEveryScaleTrimmedOrNot() {
        for mantissa in [0, -1, -120, Int64.min + 1] + ReferenceChecksum.mantissas {
            for digits in 0...Scale.maxDigits {
                for trimmed in [false, true] {
                    let scale = Scale(digits)
                    let crc = ChecksumText.crc32 { $0.appendDecimal(mantissa, scale: scale, trimmed: trimmed) }
                    let reference = DecimalText.format(mantissa, scale: scale, trimTrailingZeros: trimmed)
                    #expect(crc == ReferenceChecksum.crc32(reference.utf8), "\(reference) (\(mantissa) at \(digits), trimmed \(trimmed))")
                }
            }
        }
    }

    @Test func digitCountIsTheLengthOfTheDecimalText() {
        for value in [UInt64(0), UInt64.max, UInt64.max / 10] + ReferenceChecksum.mantissas.map { UInt64($0) } {
            #expect(ChecksumText.digitCount(value) == String(value).count, "\(value)")
        }
    }
}

@Suite struct VenueChecksumReferenceTests {
    /// Books with 0 to 40 levels a side (fewer and more than the 25 and 10 hashed), numbers of
    /// every length: 50 levels of 19-digit numbers overflow the text buffer more than once.
    static func books(priceScale: UInt8, quantityScale: UInt8, _ body: (OrderBook) throws -> Void) throws {
        let values = ReferenceChecksum.mantissas
        for (bidCount, askCount) in [(0, 0), (1, 0), (0, 3), (1, 3), (10, 10), (11, 9), (24, 26), (25, 25), (40, 33)] {
            for rotation in [0, 17, 41] {
                let (keeper, _) = try makeKeeper(symbols: ["A"], priceScale: priceScale, quantityScale: quantityScale)
                let book = keeper.books.withBook(InstrumentId(0)) { $0 }
                defer { withExtendedLifetime(keeper) {} }  // the book lives in the keeper's table
                for index in 0..<bidCount {
                    book.set(.bid, price: Price(mantissa: values[(rotation + index) % values.count]),
                             quantity: Quantity(mantissa: values[(rotation + 3 * index) % values.count]))
                }
                for index in 0..<askCount {
                    book.set(.ask, price: Price(mantissa: values[(rotation + 5 + index) % values.count]),
                             quantity: Quantity(mantissa: values[(rotation + 7 * index + 1) % values.count]))
                }
                try body(book)
            }
        }
    }

    @Test(arguments: [(UInt8(0), UInt8(0)), (1, 0), (2, 8), (8, 8), (18, 18)])
    func okxChecksumEqualsTheCRCOfTheDocumentedText(priceScale: UInt8, quantityScale: UInt8) throws {
        try Self.books(priceScale: priceScale, quantityScale: quantityScale) { book in
            let text = ReferenceChecksum.okxText(book, priceScale: Scale(priceScale), quantityScale: Scale(quantityScale))
            let checksum = VenueChecksum.okxChecksum(book, priceScale: Scale(priceScale), quantityScale: Scale(quantityScale))
            #expect(checksum == ReferenceChecksum.crc32(text.utf8), "\(text)")
        }
    }

    @Test func krakenChecksumEqualsTheCRCOfTheDocumentedText() throws {
        try Self.books(priceScale: 1, quantityScale: 8) { book in
            let text = ReferenceChecksum.krakenText(book)
            #expect(VenueChecksum.krakenChecksum(book) == ReferenceChecksum.crc32(text.utf8), "\(text)")
        }
    }

    /// OKX's second documented vector is a book whose ask side is longer: "bid:ask:ask:ask".
    @Test func okxDocumentedVectorWithOneBidAndThreeAsks() throws {
        let (keeper, _) = try makeKeeper(symbols: ["A"], priceScale: 1)
        let book = keeper.books.withBook(InstrumentId(0)) { $0 }
        defer { withExtendedLifetime(keeper) {} }
        book.set(.bid, price: Price(mantissa: 33661), quantity: Quantity(mantissa: 7))
        for (price, quantity) in [(Int64(33668), Int64(9)), (33680, 8), (33720, 8)] {
            book.set(.ask, price: Price(mantissa: price), quantity: Quantity(mantissa: quantity))
        }
        #expect(VenueChecksum.okxTop25(831_078_360).matches(book, priceScale: Scale(1), quantityScale: Scale(0)))
    }
}

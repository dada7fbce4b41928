import Testing
@testable import TickwireCore

@Suite struct DecimalTextParsing {
    let s8 = Scale(8)
    let s2 = Scale(2)

    @Test(arguments: [
        ("0", 0), ("1", 100_000_000), ("61234.56", 6_123_456_000_000),
        ("0.00000001", 1), ("-2.5", -250_000_000), ("000123.4500", 12_345_000_000),
        ("1.50000000000000000000000000", 150_000_000), ("1e2", 10_000_000_000),
        ("1.5E-3", 150_000), ("25e-8", 25), ("-0", 0), ("0.0", 0),
    ] as [(String, Int64)])
    func parsesExactlyAtScale8(text: String, mantissa: Int64) throws {
        #expect(try DecimalText.parse(text, scale: s8) == mantissa)
    }

    @Test func keepsTrailingZerosBeyondTheScaleExact() throws {
        #expect(try DecimalText.parse("3366.10000000", scale: s2) == 336_610)
        #expect(try DecimalText.parse("100e-2", scale: Scale(0)) == 1)
    }

    @Test func refusesDigitsBelowTheScaleInsteadOfRounding() {
        #expect(throws: DecimalParseError.inexact) { try DecimalText.parse("0.123", scale: s2) }
        #expect(throws: DecimalParseError.inexact) { try DecimalText.parse("0.000000001", scale: s8) }
        #expect(throws: DecimalParseError.inexact) { try DecimalText.parse("1e-9", scale: s8) }
    }

    @Test func refusesValuesBeyondInt64() {
        #expect(throws: DecimalParseError.overflow) { try DecimalText.parse("92233720368.54775808", scale: s8) }
        #expect(throws: DecimalParseError.overflow) { try DecimalText.parse("99999999999999999999999", scale: Scale(0)) }
        #expect(throws: DecimalParseError.overflow) { try DecimalText.parse("1e30", scale: s8) }
    }

    @Test func acceptsTheInt64Extremes() throws {
        #expect(try DecimalText.parse("9223372036854775807", scale: Scale(0)) == .max)
        #expect(try DecimalText.parse("-9223372036854775808", scale: Scale(0)) == .min)
        #expect(try DecimalText.parse("92233720368.54775807", scale: s8) == .max)
    }

    @Test(arguments: ["", "-"]) func refusesTextWithoutDigits(text: String) {
        #expect(throws: DecimalParseError.self) { try DecimalText.parse(text, scale: s8) }
    }

    @Test(arguments: [
        ("1.2.3", 3), ("abc", 0), ("1,5", 1), (" 1", 0), ("1 ", 1), ("+1", 0), ("1.", 1),
        (".5", 0), ("1e", 2), ("1e+", 3), ("1ex", 2), ("--1", 1), ("1-", 1), ("\"1\"", 0),
    ] as [(String, Int)])
    func pointsAtTheFirstBadCharacter(text: String, offset: Int) {
        #expect(throws: DecimalParseError.invalidCharacter(offset: offset)) { try DecimalText.parse(text, scale: s8) }
    }

    @Test func parsesFromARawBufferSliceWithoutCopying() throws {
        let frame = Array(#"["61234.56","0.5"]"#.utf8)
        let value = try frame.withUnsafeBytes { bytes in
            try DecimalText.parse(UnsafeRawBufferPointer(rebasing: bytes[2..<10]), scale: s2)
        }
        #expect(value == 6_123_456)
    }

    /// The word-at-a-time reading of plain decimals answers exactly what the general reading
    /// answers, value or error, for texts of every length around the 8-byte word (digits
    /// before and after the point from 0 to 20), odd bytes, and bytes after the text in memory
    /// that must not be read as part of it.
    @Test(arguments: PropertySeeds.list(6))
    func plainFastPathAgreesWithTheGeneralReading(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let alphabet = Array("0123456789000.-e\"x".utf8)
        for _ in 0..<20_000 {
            var text: [UInt8] = []
            if random.chance(0.7) {
                text += (0..<Int.random(in: 0...20, using: &random)).map { _ in UInt8(ascii: "0") + UInt8.random(in: 0...9, using: &random) }
                if random.chance(0.8) {
                    text.append(UInt8(ascii: "."))
                    text += (0..<Int.random(in: 0...20, using: &random)).map { _ in
                        random.chance(0.4) ? UInt8(ascii: "0") : UInt8(ascii: "0") + UInt8.random(in: 0...9, using: &random)
                    }
                }
                if random.chance(0.05) { text.insert(alphabet.randomElement(using: &random)!, at: Int.random(in: 0...text.count, using: &random)) }
            } else {
                text = (0..<Int.random(in: 0...24, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            }
            let scale = Scale(UInt8.random(in: 0...18, using: &random))
            // Digits right after the text: a reader that ran past `count` would take them in.
            let memory = text + Array("123456789".utf8)
            memory.withUnsafeBufferPointer { bytes in
                let fast = Result { () throws(DecimalParseError) in try DecimalText.parse(bytes.baseAddress!, count: text.count, scale: scale) }
                let general = Result { () throws(DecimalParseError) in try DecimalText.parseGeneral(bytes.baseAddress!, count: text.count, scale: scale) }
                #expect(fast == general, "\(String(decoding: text, as: UTF8.self)) at scale \(scale.digits)")
            }
        }
    }
}

@Suite struct DecimalTextFormatting {
    @Test(arguments: [
        (Int64(0), UInt8(8), "0.00000000"), (1, 8, "0.00000001"), (-250_000_000, 8, "-2.50000000"),
        (6_123_456, 2, "61234.56"), (42, 0, "42"), (.min, 0, "-9223372036854775808"),
        (.max, 18, "9.223372036854775807"), (.min, 18, "-9.223372036854775808"),
    ] as [(Int64, UInt8, String)])
    func writesEveryDecimalPlaceOfTheScale(mantissa: Int64, digits: UInt8, text: String) {
        #expect(DecimalText.format(mantissa, scale: Scale(digits)) == text)
    }

    @Test(arguments: [
        (Int64(150_000_000), "1.5"), (200_000_000, "2"), (1, "0.00000001"), (0, "0"), (-10, "-0.0000001"),
    ] as [(Int64, String)])
    func trimsTrailingZerosWhenAsked(mantissa: Int64, text: String) {
        #expect(DecimalText.format(mantissa, scale: Scale(8), trimTrailingZeros: true) == text)
    }

    @Test func formatThenParseRoundTripsEveryScale() throws {
        var state: UInt64 = 0x5EED_0001
        for _ in 0..<20_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let mantissa = Int64(bitPattern: state) >> Int64(state % 64)
            let scale = Scale(UInt8(state >> 59 % 19))
            for trim in [false, true] {
                let text = DecimalText.format(mantissa, scale: scale, trimTrailingZeros: trim)
                #expect(try DecimalText.parse(text, scale: scale) == mantissa, "\(text) at \(scale), seed state \(state)")
            }
        }
    }

    @Test func priceAndQuantityHelpersUseTheInstrumentScale() throws {
        let price = try Price("3366.1", scale: Scale(2))
        #expect(price.mantissa == 336_610)
        #expect(price.text(scale: Scale(2)) == "3366.10")
        #expect(try Quantity("0.004", scale: Scale(3)).text(scale: Scale(3), trimTrailingZeros: true) == "0.004")
    }
}

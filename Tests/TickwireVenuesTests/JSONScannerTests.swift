import Testing
import TickwireCore
@testable import TickwireVenues

/// Scans `text` with `body`, keeping the bytes alive for the scanner's views.
func scan<T>(_ text: String, _ body: (inout JSONScanner) throws(JSONError) -> T) throws(JSONError) -> T {
    let bytes = Array(text.utf8)
    let result = bytes.withUnsafeBytes { raw -> Result<T, JSONError> in
        var scanner = JSONScanner(raw)
        return Result { () throws(JSONError) in try body(&scanner) }
    }
    return try result.get()
}

@Suite struct JSONScannerTests {
    @Test func readsABinanceDepthUpdateFieldByField() throws {
        let frame = #"{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}"#
        let (u, bids, symbol) = try scan(frame) { (s) throws(JSONError) -> (UInt64, [Int64], String) in
            var u: UInt64 = 0
            var bids: [Int64] = []
            var symbol = ""
            try s.beginObject()
            while let key = try s.nextKey() {
                if key == "u" { u = try s.uint64() }
                else if key == "s" { symbol = try s.string().string }
                else if key == "b" {
                    try s.beginArray()
                    while try s.nextElement() {
                        try s.beginArray()
                        _ = try s.nextElement(); bids.append(try s.decimal(scale: Scale(8)))
                        _ = try s.nextElement(); bids.append(try s.decimal(scale: Scale(8)))
                        let more = try s.nextElement()
                        #expect(!more)
                    }
                } else { try s.skipValue() }
            }
            let atEnd = s.isAtEnd()
            #expect(atEnd)
            return (u, bids, symbol)
        }
        #expect(u == 160)
        #expect(symbol == "BNBBTC")
        #expect(bids == [240_000, 1_000_000_000])
    }

    @Test func readsBareNumbersAsExactDecimals() throws {
        let value = try scan(#"{"price":1797.30,"qty":0.10000000}"#) { (s) throws(JSONError) -> [Int64] in
            try s.beginObject()
            var out: [Int64] = []
            while try s.nextKey() != nil { out.append(try s.decimal(scale: Scale(8))) }
            return out
        }
        #expect(value == [179_730_000_000, 10_000_000])
    }

    @Test func keepsTheDigitsAsSent() throws {
        let text = try scan(#"[1797.30]"#) { (s) throws(JSONError) -> String in
            try s.beginArray()
            _ = try s.nextElement()
            return try s.numberText().string
        }
        #expect(text == "1797.30")
    }

    @Test func readsSignedIntegersQuotedOrBare() throws {
        let values = try scan(#"[-1,"-855196043",123456,"9223372036854775807",-9223372036854775808]"#) { (s) throws(JSONError) -> [Int64] in
            try s.beginArray()
            var out: [Int64] = []
            while try s.nextElement() { out.append(try s.int64()) }
            return out
        }
        #expect(values == [-1, -855_196_043, 123_456, .max, .min])
    }

    @Test func skipsNestedValuesStringsWithEscapesAndLiterals() throws {
        let last = try scan(#"{"a":{"b":[1,{"c":"x\"}y"},null,true,false,-1.5e3]},"z":7}"#) { (s) throws(JSONError) -> UInt64 in
            try s.beginObject()
            var z: UInt64 = 0
            while let key = try s.nextKey() {
                if key == "z" { z = try s.uint64() } else { try s.skipValue() }
            }
            return z
        }
        #expect(last == 7)
    }

    @Test(arguments: [
        (#"{"a":1"#, JSONError.Kind.truncated),
        (#"{"a" 1}"#, .unexpectedByte(UInt8(ascii: "1"))),
        (#"{"a":1 "b":2}"#, .unexpectedByte(UInt8(ascii: "\""))),
        (#"{,"a":1}"#, .unexpectedByte(UInt8(ascii: ","))),
        (#"{"a":"unterminated}"#, .truncated),
        (#"{"a":tru}"#, .unexpectedByte(UInt8(ascii: "t"))),
    ])
    func refusesMalformedFramesWithATypedError(frame: String, kind: JSONError.Kind) {
        #expect {
            try scan(frame) { (s) throws(JSONError) in
                try s.beginObject()
                while try s.nextKey() != nil { try s.skipValue() }
            }
        } throws: { error in
            (error as? JSONError)?.kind == kind
        }
    }

    @Test func aDecimalBelowTheScaleIsRefusedWithItsOffset() {
        #expect(throws: JSONError(.decimal(.inexact), offset: 2)) {
            try scan(#"["0.123"]"#) { (s) throws(JSONError) in
                try s.beginArray()
                _ = try s.nextElement()
                _ = try s.decimal(scale: Scale(2))
            }
        }
    }

    @Test func integersThatOverflowOrAreNotIntegersAreRefused() {
        for text in [#"[18446744073709551616]"#, #"["12a"]"#, #"[1.5]"#, #"["-"]"#] {
            #expect(throws: JSONError.self) {
                try scan(text) { (s) throws(JSONError) in
                    try s.beginArray()
                    _ = try s.nextElement()
                    _ = try s.int64()
                }
            }
        }
    }

    @Test func nestingBeyondTheLimitIsRefused() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONError.self) { try scan(deep) { (s) throws(JSONError) in try s.skipValue() } }
    }

    @Test func byteViewsCompareWithLiteralsAndStrings() throws {
        try scan(#""ethusdt@depth""#) { (s) throws(JSONError) in
            let view = try s.string()
            #expect(view == "ethusdt@depth")
            #expect(!(view == "ethusdt@trade"))
            #expect(view.equals("ethusdt@depth"))
        }
    }
}

import CTickwire
import TickwireCore

/// The JSON line of one book, as `tickwire watch` and `tickwire listen` print it:
///
/// ```
/// {"venue":"bybit-linear","symbol":"BTCUSDT","update_id":18521288,"valid":true,"bids":[["16493.5","0.006"],…],"asks":[…],"recv_ns":…,"emit_ns":…}
/// {"venue":"bybit-linear","symbol":"BTCUSDT","update_id":18521288,"valid":false,"reason":"sequenceGap","bids":[],"asks":[],"recv_ns":…,"emit_ns":…}
/// ```
/// Lines are built in a buffer preallocated for the longest line `levels` allow (no String,
/// no allocation per line); numbers are written with `DecimalText.format` at the instrument's
/// scale with trailing zeros trimmed ("0.521", "43210", never "0.52100000"), the exact value.
/// `update_id` on an invalid line is the id of the last update published for that book (0
/// before any). Instruments are defined up front (`watch`) or as they are announced (`listen`).
public struct BookLineFormatter {
    public let levels: Int
    public let instrumentCapacity: Int

    /// Per instrument: the pre-rendered `{"venue":"…","symbol":"…","update_id":` bytes in a
    /// fixed slot, so defining one later allocates nothing and a line copies bytes.
    private let prefixes: LineBuffer
    private var prefixLengths: [Int]
    private var priceScales: [Scale]
    private var quantityScales: [Scale]
    private var lastUpdateIds: [UInt64]
    private let line: LineBuffer

    private static let prefixSlot = 160
    /// Longest venue name and symbol kept (longer ones are cut).
    private static let nameLimit = 64

    public init(instrumentCapacity: Int, levels: Int) {
        precondition(levels >= 0 && instrumentCapacity > 0)
        self.levels = levels
        self.instrumentCapacity = instrumentCapacity
        prefixes = LineBuffer(capacity: instrumentCapacity * Self.prefixSlot)
        prefixLengths = Array(repeating: 0, count: instrumentCapacity)
        priceScales = Array(repeating: Scale(0), count: instrumentCapacity)
        quantityScales = priceScales
        lastUpdateIds = Array(repeating: 0, count: instrumentCapacity)
        // prefix + id + flags/reason + per level `["p","q"],` + times.
        line = LineBuffer(capacity: Self.prefixSlot + 256 + 2 * levels * (2 * DecimalText.maxFormattedLength + 8))
    }

    /// Names instrument `instrument` and gives its scales. Bytes that would break the JSON
    /// string (quotes, backslashes, control and non-ASCII bytes) are written as `?`.
    public mutating func define(
        _ instrument: InstrumentId, venue: UnsafeRawBufferPointer, symbol: UnsafeRawBufferPointer, priceScale: Scale, quantityScale: Scale
    ) {
        let index = instrument.index
        precondition(index < instrumentCapacity, "instrument beyond the formatter's capacity")
        var writer = ByteWriter(base: prefixes.bytes + index * Self.prefixSlot)
        writer.append(#"{"venue":""#)
        writer.appendSanitized(UnsafeRawBufferPointer(rebasing: venue.prefix(Self.nameLimit)))
        writer.append(#"","symbol":""#)
        writer.appendSanitized(UnsafeRawBufferPointer(rebasing: symbol.prefix(Self.nameLimit)))
        writer.append(#"","update_id":"#)
        prefixLengths[index] = writer.count
        priceScales[index] = priceScale
        quantityScales[index] = quantityScale
        lastUpdateIds[index] = 0
    }

    public mutating func define(_ instrument: InstrumentId, venue: String, symbol: String, priceScale: Scale, quantityScale: Scale) {
        var venue = venue, symbol = symbol
        venue.withUTF8 { venueBytes in
            symbol.withUTF8 { symbolBytes in
                define(instrument, venue: UnsafeRawBufferPointer(venueBytes), symbol: UnsafeRawBufferPointer(symbolBytes),
                       priceScale: priceScale, quantityScale: quantityScale)
            }
        }
    }

    /// The line of a valid book after an update: its top `levels` per side, best first.
    public mutating func updateLine(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) -> UnsafeRawBufferPointer {
        let index = instrument.index
        lastUpdateIds[index] = venueUpdateId
        var writer = prefix(index)
        writer.append(venueUpdateId)
        writer.append(#","valid":true,"bids":["#)
        writeSide(book, .bid, index: index, into: &writer)
        writer.append(#"],"asks":["#)
        writeSide(book, .ask, index: index, into: &writer)
        writer.append(#"],"recv_ns":"#)
        return finish(&writer, receiveTime: receiveTime)
    }

    /// The line of a book that turned invalid.
    public mutating func invalidLine(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) -> UnsafeRawBufferPointer {
        let index = instrument.index
        var writer = prefix(index)
        writer.append(lastUpdateIds[index])
        writer.append(#","valid":false,"reason":""#)
        reason.withName { writer.append($0) }
        writer.append(#"","bids":[],"asks":[],"recv_ns":"#)
        return finish(&writer, receiveTime: receiveTime)
    }

    @inline(__always)
    private func prefix(_ index: Int) -> ByteWriter {
        var writer = ByteWriter(base: line.bytes)
        writer.append(UnsafeRawBufferPointer(start: prefixes.bytes + index * Self.prefixSlot, count: prefixLengths[index]))
        return writer
    }

    @inline(__always)
    private func writeSide(_ book: OrderBook, _ side: Side, index: Int, into writer: inout ByteWriter) {
        let priceScale = priceScales[index], quantityScale = quantityScales[index]
        var first = true
        book.forEachLevel(side, limit: levels) { level in
            if !first { writer.append(UInt8(ascii: ",")) }
            first = false
            writer.append(#"[""#)
            writer.decimal(level.price.mantissa, scale: priceScale)
            writer.append(#"",""#)
            writer.decimal(level.quantity.mantissa, scale: quantityScale)
            writer.append(#""]"#)
        }
    }

    @inline(__always)
    private func finish(_ writer: inout ByteWriter, receiveTime: UInt64) -> UnsafeRawBufferPointer {
        writer.append(receiveTime)
        writer.append(#","emit_ns":"#)
        writer.append(ctw_realtime_ns())
        writer.append(#"}"#)
        writer.append(UInt8(ascii: "\n"))
        return UnsafeRawBufferPointer(start: line.bytes, count: writer.count)
    }
}

/// Owns a line buffer for the life of whoever holds it.
final class LineBuffer {
    let bytes: UnsafeMutableRawPointer
    init(capacity: Int) { bytes = .allocate(byteCount: max(1, capacity), alignment: 64) }
    deinit { bytes.deallocate() }
}

/// Appends bytes to a buffer known to be large enough (sized at set-up for the longest line).
struct ByteWriter {
    let base: UnsafeMutableRawPointer
    var count = 0

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count &+= 1
    }

    @inline(__always)
    mutating func append(_ literal: StaticString) {
        (base + count).copyMemory(from: literal.utf8Start, byteCount: literal.utf8CodeUnitCount)
        count &+= literal.utf8CodeUnitCount
    }

    @inline(__always)
    mutating func append(_ raw: UnsafeRawBufferPointer) {
        guard let source = raw.baseAddress else { return }
        (base + count).copyMemory(from: source, byteCount: raw.count)
        count &+= raw.count
    }

    /// Printable ASCII as is; `"`, `\`, control and non-ASCII bytes as `?` (a JSON string
    /// that stays valid whatever a publisher sent).
    mutating func appendSanitized(_ raw: UnsafeRawBufferPointer) {
        for byte in raw {
            append(byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") ? byte : UInt8(ascii: "?"))
        }
    }

    @inline(__always)
    mutating func append(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch on the stack
        withUnsafeMutableBytes(of: &digits) { scratch in
            var position = scratch.count
            var rest = value
            repeat {
                position -= 1
                scratch[position] = UInt8(ascii: "0") &+ UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            append(UnsafeRawBufferPointer(rebasing: scratch[position...]))
        }
    }

    @inline(__always)
    mutating func decimal(_ mantissa: Int64, scale: Scale) {
        count &+= DecimalText.format(mantissa, scale: scale, trimTrailingZeros: true,
                                     into: UnsafeMutableRawBufferPointer(start: base + count, count: DecimalText.maxFormattedLength))
    }
}

extension BookStatus.Reason {
    /// The reason's name as bytes, without building a String.
    @inline(__always)
    func withName<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        let name: StaticString
        switch self {
        case .none: name = "none"
        case .sequenceGap: name = "sequenceGap"
        case .checksumMismatch: name = "checksumMismatch"
        case .crossedBook: name = "crossedBook"
        case .ringOverflow: name = "ringOverflow"
        case .stale: name = "stale"
        case .disconnected: name = "disconnected"
        case .snapshotPending: name = "snapshotPending"
        case .venueReset: name = "venueReset"
        case .malformedMessage: name = "malformedMessage"
        default: name = "other"
        }
        return body(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }
}

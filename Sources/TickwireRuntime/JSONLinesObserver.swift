import CTickwire
import TickwireCore
import TickwireVenues

#if canImport(Glibc)
import Glibc
#endif

/// Where finished lines go.
public protocol LineSink {
    mutating func emit(_ line: UnsafeRawBufferPointer)
}

/// write(2) to a file descriptor, the whole line at once (no stdio buffering: a pipe reader
/// sees each line as soon as it is produced).
public struct FileDescriptorSink: LineSink {
    public let descriptor: Int32
    public private(set) var failures = 0

    public init(descriptor: Int32 = 1) { self.descriptor = descriptor }

    public mutating func emit(_ line: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < line.count {
            let written = write(descriptor, line.baseAddress! + offset, line.count - offset)
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EINTR || errno == EAGAIN) {
                continue
            } else {
                failures += 1
                return
            }
        }
    }
}

/// `watch --format jsonl`: one JSON line per completed book update, and one per transition
/// to invalid. The line for instrument `i` is built in a buffer preallocated for the largest
/// line `levels` allow (no String, no allocation per line); numbers are written with
/// `DecimalText.format` at the instrument's scale with trailing zeros trimmed ("0.521", "43210",
/// never "0.52100000"), which is the exact value.
///
/// ```
/// {"venue":"bybit-linear","symbol":"BTCUSDT","update_id":18521288,"valid":true,"bids":[["16493.5","0.006"],…],"asks":[…],"recv_ns":…,"emit_ns":…}
/// {"venue":"bybit-linear","symbol":"BTCUSDT","update_id":18521288,"valid":false,"reason":"sequenceGap","bids":[],"asks":[],"recv_ns":…,"emit_ns":…}
/// ```
/// `update_id` on an invalid line is the id of the last update published for that book (0 before any).
public struct JSONLinesObserver<Sink: LineSink>: BookObserver {
    public var sink: Sink
    public let levels: Int
    public private(set) var linesWritten: UInt64 = 0

    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int
    /// Per instrument: the pre-rendered `{"venue":"…","symbol":"…","update_id":` bytes, all in
    /// one buffer (`prefixStarts[i]..<prefixStarts[i + 1]`), so a line copies bytes, not arrays.
    private let prefixBytes: UnsafeMutableRawPointer
    private let prefixStarts: [Int]
    private let priceScales: [Scale]
    private let quantityScales: [Scale]
    private var lastUpdateIds: [UInt64]
    private let storage: LineBuffer
    private let prefixStorage: LineBuffer

    public init(venue: Venue, instruments: InstrumentTable, levels: Int, sink: Sink) {
        precondition(levels >= 0)
        self.sink = sink
        self.levels = levels
        let prefixes = instruments.definitions.map { Array(#"{"venue":"\#(venue.name)","symbol":"\#($0.symbol)","update_id":"#.utf8) }
        var starts = [0]
        for prefix in prefixes { starts.append(starts.last! + prefix.count) }
        prefixStarts = starts
        let prefixBuffer = LineBuffer(capacity: max(1, starts.last!))
        for (index, prefix) in prefixes.enumerated() {
            prefix.withUnsafeBytes { (prefixBuffer.bytes + starts[index]).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        prefixStorage = prefixBuffer
        prefixBytes = prefixBuffer.bytes
        priceScales = instruments.definitions.map(\.priceScale)
        quantityScales = instruments.definitions.map(\.quantityScale)
        lastUpdateIds = Array(repeating: 0, count: instruments.count)
        let longestPrefix = prefixes.map(\.count).max() ?? 0
        // prefix + id + flags/reason + per level `["p","q"],` + times.
        capacity = longestPrefix + 256 + 2 * levels * (2 * DecimalText.maxFormattedLength + 8)
        storage = LineBuffer(capacity: capacity)
        buffer = storage.bytes
    }

    public mutating func bookUpdated(_ instrument: InstrumentId, book: OrderBook, venueUpdateId: UInt64, receiveTime: UInt64) {
        let index = instrument.index
        lastUpdateIds[index] = venueUpdateId
        var writer = ByteWriter(base: buffer)
        writer.append(UnsafeRawBufferPointer(start: prefixBytes + prefixStarts[index], count: prefixStarts[index + 1] - prefixStarts[index]))
        writer.append(venueUpdateId)
        writer.append(#","valid":true,"bids":["#)
        writeSide(book, .bid, index: index, into: &writer)
        writer.append(#"],"asks":["#)
        writeSide(book, .ask, index: index, into: &writer)
        writer.append(#"],"recv_ns":"#)
        finish(&writer, receiveTime: receiveTime)
    }

    public mutating func bookInvalidated(_ instrument: InstrumentId, reason: BookStatus.Reason, receiveTime: UInt64) {
        let index = instrument.index
        var writer = ByteWriter(base: buffer)
        writer.append(UnsafeRawBufferPointer(start: prefixBytes + prefixStarts[index], count: prefixStarts[index + 1] - prefixStarts[index]))
        writer.append(lastUpdateIds[index])
        writer.append(#","valid":false,"reason":""#)
        reason.withName { writer.append($0) }
        writer.append(#"","bids":[],"asks":[],"recv_ns":"#)
        finish(&writer, receiveTime: receiveTime)
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
    private mutating func finish(_ writer: inout ByteWriter, receiveTime: UInt64) {
        writer.append(receiveTime)
        writer.append(#","emit_ns":"#)
        writer.append(ctw_realtime_ns())
        writer.append(#"}"#)
        writer.append(UInt8(ascii: "\n"))
        sink.emit(UnsafeRawBufferPointer(start: buffer, count: writer.count))
        linesWritten &+= 1
    }
}

/// Owns a line buffer for the life of whoever holds it.
final class LineBuffer {
    let bytes: UnsafeMutableRawPointer
    init(capacity: Int) { bytes = .allocate(byteCount: capacity, alignment: 64) }
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
    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { (base + count).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        count &+= bytes.count
    }

    @inline(__always)
    mutating func append(_ raw: UnsafeRawBufferPointer) {
        guard let source = raw.baseAddress else { return }
        (base + count).copyMemory(from: source, byteCount: raw.count)
        count &+= raw.count
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

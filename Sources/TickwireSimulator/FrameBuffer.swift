import TickwireCore
import TickwireVenues

/// A reusable, growable byte buffer the encoders write JSON into: no String building, no
/// allocation once it has grown to the largest message (snapshots).
public final class FrameBuffer {
    /// The buffer's state lives behind a pointer: reads and writes of it are plain memory
    /// accesses, not class-property accesses with dynamic exclusivity checks (which cost more
    /// than the copying itself at tens of appends per message).
    @usableFromInline
    struct State {
        @usableFromInline var base: UnsafeMutablePointer<UInt8>
        @usableFromInline var count: Int
        @usableFromInline var capacity: Int
    }

    @usableFromInline let state: UnsafeMutablePointer<State>

    public var base: UnsafeMutablePointer<UInt8> { state.pointee.base }
    public var count: Int { state.pointee.count }
    public var capacity: Int { state.pointee.capacity }

    public init(capacity: Int = 64 << 10) {
        let capacity = max(capacity, 256)
        state = .allocate(capacity: 1)
        state.initialize(to: State(base: .allocate(capacity: capacity), count: 0, capacity: capacity))
    }

    deinit {
        state.pointee.base.deallocate()
        state.deallocate()
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: state.pointee.base, count: state.pointee.count) }

    public func reset() { state.pointee.count = 0 }

    /// Drops the last `n` bytes (a trailing comma).
    @inline(__always)
    public func dropLast(_ n: Int = 1) { state.pointee.count = max(0, state.pointee.count - n) }

    public var last: UInt8? { count > 0 ? base[count - 1] : nil }

    @inline(__always)
    func reserve(_ extra: Int) {
        if _slowPath(state.pointee.count + extra > state.pointee.capacity) { grow(state.pointee.count + extra) }
    }

    private func grow(_ needed: Int) {
        var newCapacity = state.pointee.capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: state.pointee.base, count: state.pointee.count)
        state.pointee.base.deallocate()
        state.pointee.base = newBase
        state.pointee.capacity = newCapacity
    }

    /// Where the next byte goes (after `reserve`).
    @inline(__always)
    var tail: UnsafeMutablePointer<UInt8> { state.pointee.base + state.pointee.count }

    @inline(__always)
    func advance(_ n: Int) { state.pointee.count &+= n }

    @inline(__always)
    public func append(_ text: StaticString) {
        let length = text.utf8CodeUnitCount
        reserve(length)
        tail.update(from: text.utf8Start, count: length)
        advance(length)
    }

    @inline(__always)
    public func append(byte: UInt8) {
        reserve(1)
        tail.pointee = byte
        advance(1)
    }

    public func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        UnsafeMutableRawPointer(tail).copyMemory(from: source, byteCount: bytes.count)
        advance(bytes.count)
    }

    public func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// A decimal integer.
    @inline(__always)
    public func append(_ value: UInt64) {
        reserve(20)
        let out = tail
        if value < 10 {
            out.pointee = UInt8(ascii: "0") &+ UInt8(value)
            advance(1)
            return
        }
        var digits = 0
        var probe = value
        while probe > 0 { probe /= 10; digits += 1 }
        var v = value
        var position = digits - 1
        while v > 0 {
            out[position] = UInt8(ascii: "0") &+ UInt8(v % 10)
            v /= 10
            position -= 1
        }
        advance(digits)
    }

    @inline(__always)
    public func append(signed value: Int64) {
        if value < 0 {
            append(byte: UInt8(ascii: "-"))
            append(value.magnitude)
        } else {
            append(UInt64(value))
        }
    }

    /// `mantissa × 10^-scale` as decimal text (all `scale` digits, or trimmed).
    @inline(__always)
    public func appendDecimal(_ mantissa: Int64, scale: Scale, trim: Bool = false) {
        reserve(DecimalText.maxFormattedLength)
        let written = DecimalText.format(mantissa, scale: scale, trimTrailingZeros: trim,
                                         into: UnsafeMutableRawBufferPointer(start: tail, count: DecimalText.maxFormattedLength))
        advance(written)
    }

    /// `"…"` around a decimal.
    @inline(__always)
    public func appendQuotedDecimal(_ mantissa: Int64, scale: Scale, trim: Bool = false) {
        append(byte: UInt8(ascii: "\""))
        appendDecimal(mantissa, scale: scale, trim: trim)
        append(byte: UInt8(ascii: "\""))
    }

    /// A JSON string of ASCII text the simulator itself chose (symbols, ids): quotes and
    /// backslashes escaped.
    public func appendQuoted(_ text: String) {
        append(byte: UInt8(ascii: "\""))
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { append(byte: UInt8(ascii: "\\")) }
            append(byte: byte < 0x20 ? UInt8(ascii: " ") : byte)
        }
        append(byte: UInt8(ascii: "\""))
    }

    /// An ISO-8601 UTC time with `fractionDigits` (0...9) digits: `2026-08-09T21:05:48.483587Z`.
    public func appendISOTime(_ nanoseconds: UInt64, fractionDigits: Int) {
        let seconds = Int64(nanoseconds / 1_000_000_000)
        let nanos = nanoseconds % 1_000_000_000
        let days = seconds / 86_400
        let secondOfDay = Int(seconds % 86_400)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        appendPadded(UInt64(year), width: 4)
        append(byte: UInt8(ascii: "-"))
        appendPadded(UInt64(month), width: 2)
        append(byte: UInt8(ascii: "-"))
        appendPadded(UInt64(day), width: 2)
        append(byte: UInt8(ascii: "T"))
        appendPadded(UInt64(secondOfDay / 3600), width: 2)
        append(byte: UInt8(ascii: ":"))
        appendPadded(UInt64(secondOfDay / 60 % 60), width: 2)
        append(byte: UInt8(ascii: ":"))
        appendPadded(UInt64(secondOfDay % 60), width: 2)
        if fractionDigits > 0 {
            append(byte: UInt8(ascii: "."))
            var divisor: UInt64 = 1
            for _ in fractionDigits..<9 { divisor *= 10 }
            appendPadded(nanos / divisor, width: fractionDigits)
        }
        append(byte: UInt8(ascii: "Z"))
    }

    private func appendPadded(_ value: UInt64, width: Int) {
        reserve(width)
        let out = tail
        var v = value
        var position = width - 1
        while position >= 0 {
            out[position] = UInt8(ascii: "0") &+ UInt8(v % 10)
            v /= 10
            position -= 1
        }
        advance(width)
    }

    /// A copy of the bytes (fault injection keeps a held-back message).
    public func copy() -> [UInt8] { Array(bytes) }

    /// The text (tests, logs).
    public var string: String { String(decoding: bytes, as: UTF8.self) }
}

/// Checksums as the venues compute them, from the exact text the simulator sends.
public enum VenueChecksums {
    /// OKX: signed CRC32 of `bidPx:bidSz:askPx:askSz:…` over the top 25 levels a side
    /// (interleaved, a shorter side simply ends), with the same trimmed text as the frames.
    public static func okx(bids: ArraySlice<BookLevel>, asks: ArraySlice<BookLevel>, priceScale: Scale, quantityScale: Scale,
                           scratch: FrameBuffer) -> Int32 {
        scratch.reset()
        let bidCount = min(25, bids.count), askCount = min(25, asks.count)
        for index in 0..<max(bidCount, askCount) {
            if index < bidCount {
                let level = bids[bids.startIndex + index]
                scratch.appendDecimal(level.price.mantissa, scale: priceScale, trim: true)
                scratch.append(byte: UInt8(ascii: ":"))
                scratch.appendDecimal(level.quantity.mantissa, scale: quantityScale, trim: true)
                scratch.append(byte: UInt8(ascii: ":"))
            }
            if index < askCount {
                let level = asks[asks.startIndex + index]
                scratch.appendDecimal(level.price.mantissa, scale: priceScale, trim: true)
                scratch.append(byte: UInt8(ascii: ":"))
                scratch.appendDecimal(level.quantity.mantissa, scale: quantityScale, trim: true)
                scratch.append(byte: UInt8(ascii: ":"))
            }
        }
        if scratch.last == UInt8(ascii: ":") { scratch.dropLast() }
        var crc = CRC32()
        crc.update(scratch.bytes)
        return Int32(bitPattern: crc.value)
    }

    /// Kraken v2: the top 10 asks (low to high) then the top 10 bids (high to low), each
    /// price and quantity as its digits at the pair's precision without point or leading zeros.
    public static func kraken(bids: ArraySlice<BookLevel>, asks: ArraySlice<BookLevel>, scratch: FrameBuffer) -> UInt32 {
        scratch.reset()
        for level in asks.prefix(10) {
            scratch.append(UInt64(level.price.mantissa))
            scratch.append(UInt64(level.quantity.mantissa))
        }
        for level in bids.prefix(10) {
            scratch.append(UInt64(level.price.mantissa))
            scratch.append(UInt64(level.quantity.mantissa))
        }
        var crc = CRC32()
        crc.update(scratch.bytes)
        return crc.value
    }
}

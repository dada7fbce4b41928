import TickwireCore

/// Why a frame could not be scanned. Carries the byte offset for the per-venue error log.
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// The frame ended inside a value.
        case truncated
        /// A byte that the grammar does not allow here.
        case unexpectedByte(UInt8)
        /// An integer field was not a non-negative/signed integer that fits 64 bits.
        case invalidInteger
        /// A price or quantity that is not an exact decimal at the instrument's scale.
        case decimal(DecimalParseError)
        /// Nesting deeper than `JSONScanner.maxDepth`.
        case tooDeep
        /// A field the venue always sends is missing or has the wrong type.
        case missingField(StaticString)
    }

    public var kind: Kind
    public var offset: Int

    public init(_ kind: Kind, offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    public static func == (a: JSONError, b: JSONError) -> Bool {
        a.offset == b.offset && a.kind == b.kind
    }

    public var description: String {
        switch kind {
        case .truncated: "truncated JSON at offset \(offset)"
        case .unexpectedByte(let byte): "unexpected byte 0x\(String(byte, radix: 16)) at offset \(offset)"
        case .invalidInteger: "invalid integer at offset \(offset)"
        case .decimal(let error): "bad decimal at offset \(offset): \(error)"
        case .tooDeep: "JSON nested too deep at offset \(offset)"
        case .missingField(let name): "missing field \(name)"
        }
    }
}

extension JSONError.Kind {
    public static func == (a: JSONError.Kind, b: JSONError.Kind) -> Bool {
        switch (a, b) {
        case (.truncated, .truncated), (.invalidInteger, .invalidInteger), (.tooDeep, .tooDeep): true
        case (.unexpectedByte(let x), .unexpectedByte(let y)): x == y
        case (.decimal(let x), .decimal(let y)): x == y
        case (.missingField(let x), .missingField(let y)): x.description == y.description
        default: false
        }
    }
}

/// The one JSON byte scanner all venues share: a forward-only cursor over a received frame.
/// No allocation, no Foundation, no Codable. Values come out as `ByteView`s into the frame,
/// integers, booleans, or fixed-point mantissas parsed exactly at the instrument's scale.
///
/// Usage is pull-style, following the venue's own field order only where it must:
/// ```
/// try scanner.beginObject()
/// while let key = try scanner.nextKey() {
///     if key == "u" { u = try scanner.uint64() } else { try scanner.skipValue() }
/// }
/// ```
/// Commas and colons are checked per nesting level (a bit per level), so malformed frames
/// are refused rather than half-read.
public struct JSONScanner {
    public static let maxDepth = 64

    public let start: UnsafePointer<UInt8>
    public let end: UnsafePointer<UInt8>
    @usableFromInline var position: UnsafePointer<UInt8>
    /// Nesting depth; bit `depth` of `needsSeparator` says a member/element came before.
    @usableFromInline var depth: Int = 0
    @usableFromInline var needsSeparator: UInt64 = 0

    @inlinable
    public init(_ frame: UnsafeRawBufferPointer) {
        let base = frame.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1)!
        start = UnsafePointer(base)
        end = start + frame.count
        position = start
    }

    @inlinable
    public init(_ view: ByteView) {
        start = view.start
        end = view.start + view.count
        position = start
    }

    /// Byte offset of the cursor (for errors).
    @inlinable public var offset: Int { position - start }

    /// True when only whitespace is left.
    @inlinable
    public mutating func isAtEnd() -> Bool {
        skipWhitespace()
        return position >= end
    }

    // MARK: structure

    @inlinable
    public mutating func beginObject() throws(JSONError) {
        try enter(UInt8(ascii: "{"))
    }

    @inlinable
    public mutating func beginArray() throws(JSONError) {
        try enter(UInt8(ascii: "["))
    }

    /// The next member's key (the cursor then sits on its value), or nil after the closing `}`.
    @inlinable
    public mutating func nextKey() throws(JSONError) -> ByteView? {
        guard try nextItem(closing: UInt8(ascii: "}")) else { return nil }
        // Venues' keys are mostly one or two letters right before the colon ("e":, "pu":).
        let p = position
        if _fastPath(end - p >= 5 && p[0] == UInt8(ascii: "\"")) && Self.isPlainKeyByte(p[1]) {
            if p[2] == UInt8(ascii: "\"") && p[3] == UInt8(ascii: ":") {
                position = p + 4
                return ByteView(start: p + 1, count: 1)
            }
            if Self.isPlainKeyByte(p[2]) && p[3] == UInt8(ascii: "\"") && p[4] == UInt8(ascii: ":") {
                position = p + 5
                return ByteView(start: p + 1, count: 2)
            }
        }
        let key = try string()
        skipWhitespace()
        guard position < end else { throw error(.truncated) }
        guard position.pointee == UInt8(ascii: ":") else { throw error(.unexpectedByte(position.pointee)) }
        position += 1
        return key
    }

    /// Moves to the next array element; false after the closing `]`.
    @inlinable
    public mutating func nextElement() throws(JSONError) -> Bool {
        try nextItem(closing: UInt8(ascii: "]"))
    }

    // MARK: values

    /// The raw bytes between the quotes of a string. Escapes are left as they are
    /// (symbols, ids and decimals never contain them); `skipValue` handles them.
    @inlinable
    public mutating func string() throws(JSONError) -> ByteView {
        skipWhitespace()
        guard position < end else { throw error(.truncated) }
        guard position.pointee == UInt8(ascii: "\"") else { throw error(.unexpectedByte(position.pointee)) }
        let first = position + 1
        var cursor = first
        // A word at a time to the first quote or backslash, then byte by byte from there.
        while end - cursor >= 8 {
            let flags = Self.quoteOrBackslashFlags(UInt64(littleEndian: UnsafeRawPointer(cursor).loadUnaligned(as: UInt64.self)))
            if flags == 0 {
                cursor += 8
                continue
            }
            cursor += flags.trailingZeroBitCount &>> 3
            if cursor.pointee == UInt8(ascii: "\"") {
                position = cursor + 1
                return ByteView(start: first, count: cursor - first)
            }
            cursor += 2
        }
        while cursor < end {
            let byte = cursor.pointee
            if byte == UInt8(ascii: "\"") {
                position = cursor + 1
                return ByteView(start: first, count: cursor - first)
            }
            // Skip the escaped byte so an escaped quote does not end the string.
            cursor += byte == UInt8(ascii: "\\") ? 2 : 1
        }
        position = end
        throw error(.truncated)
    }

    /// A price or quantity, quoted ("61234.56") or bare (61234.56), as an exact mantissa.
    @inlinable
    public mutating func decimal(scale: Scale) throws(JSONError) -> Int64 {
        let text = try numberText()
        do {
            return try DecimalText.parse(text.start, count: text.count, scale: scale)
        } catch let failure {
            throw JSONError(.decimal(failure), offset: text.start - start)
        }
    }

    /// The digits of a number, quoted or bare, as they were sent (Kraken's checksum needs them).
    @inlinable
    public mutating func numberText() throws(JSONError) -> ByteView {
        skipWhitespace()
        guard position < end else { throw error(.truncated) }
        if position.pointee == UInt8(ascii: "\"") { return try string() }
        let first = position
        while position < end && Self.isNumberByte(position.pointee) { position += 1 }
        if position == first { throw error(.unexpectedByte(first.pointee)) }
        if position == end && depth > 0 { throw error(.truncated) }
        return ByteView(start: first, count: position - first)
    }

    /// A non-negative integer (update ids, times), quoted or bare.
    @inlinable
    public mutating func uint64() throws(JSONError) -> UInt64 {
        let text = try numberText()
        guard text.count > 0, text.count <= 20 else { throw JSONError(.invalidInteger, offset: text.start - start) }
        var value: UInt64 = 0
        var index = 0
        while index < text.count {
            let digit = text[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw JSONError(.invalidInteger, offset: text.start - start + index) }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(digit))
            if o1 || o2 { throw JSONError(.invalidInteger, offset: text.start - start) }
            value = sum
            index += 1
        }
        return value
    }

    /// A signed integer (OKX `prevSeqId` -1, signed checksums), quoted or bare.
    @inlinable
    public mutating func int64() throws(JSONError) -> Int64 {
        skipWhitespace()
        let quoted = position < end && position.pointee == UInt8(ascii: "\"")
        let negative = (quoted ? position + 1 : position) < end && (quoted ? position + 1 : position).pointee == UInt8(ascii: "-")
        guard negative else {
            let origin = offset
            let value = try uint64()
            guard value <= UInt64(Int64.max) else { throw JSONError(.invalidInteger, offset: origin) }
            return Int64(value)
        }
        let text = try numberText()
        var digits = JSONScanner(ByteView(start: text.start + 1, count: text.count - 1))
        let magnitude = try digits.bareUInt64(origin: text.start - start)
        guard magnitude <= UInt64(Int64.max) + 1 else { throw JSONError(.invalidInteger, offset: text.start - start) }
        return Int64(truncatingIfNeeded: 0 &- magnitude)
    }

    @inlinable
    mutating func bareUInt64(origin: Int) throws(JSONError) -> UInt64 {
        do {
            return try uint64()
        } catch {
            throw JSONError(.invalidInteger, offset: origin)
        }
    }

    @inlinable
    public mutating func bool() throws(JSONError) -> Bool {
        skipWhitespace()
        if try consumeLiteral("true") { return true }
        if try consumeLiteral("false") { return false }
        throw position < end ? error(.unexpectedByte(position.pointee)) : error(.truncated)
    }

    /// Consumes `null` if it is next.
    @inlinable
    public mutating func consumeNull() throws(JSONError) -> Bool {
        skipWhitespace()
        return try consumeLiteral("null")
    }

    /// The next value's first byte, without consuming it (nil at the end).
    @inlinable
    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return position < end ? position.pointee : nil
    }

    /// Skips one whole value of any kind, nested containers included.
    @inlinable
    public mutating func skipValue() throws(JSONError) {
        skipWhitespace()
        guard position < end else { throw error(.truncated) }
        switch position.pointee {
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "{"):
            try beginObject()
            while try nextKey() != nil { try skipValue() }
        case UInt8(ascii: "["):
            try beginArray()
            while try nextElement() { try skipValue() }
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            _ = try bool()
        case UInt8(ascii: "n"):
            guard try consumeNull() else { throw error(.unexpectedByte(position.pointee)) }
        default:
            _ = try numberText()
        }
    }

    // MARK: internals

    @inlinable @inline(__always)
    mutating func skipWhitespace() {
        while position < end {
            let byte = position.pointee
            // One compare for the usual case: a byte above space is no whitespace.
            guard byte <= 0x20, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            position += 1
        }
    }

    @inlinable @inline(__always)
    func error(_ kind: JSONError.Kind) -> JSONError {
        JSONError(kind, offset: position - start)
    }

    /// 0x80 in the lowest byte of `word` (first character in the low byte) that is a quote or
    /// a backslash; bytes above it may be flagged too (borrows run upward), so only the
    /// lowest flag is exact. 0 when there is none.
    @inlinable @inline(__always)
    static func quoteOrBackslashFlags(_ word: UInt64) -> UInt64 {
        let quotes = word ^ 0x2222_2222_2222_2222
        let backslashes = word ^ 0x5C5C_5C5C_5C5C_5C5C
        let zeroQuotes = (quotes &- 0x0101_0101_0101_0101) & ~quotes
        let zeroBackslashes = (backslashes &- 0x0101_0101_0101_0101) & ~backslashes
        return (zeroQuotes | zeroBackslashes) & 0x8080_8080_8080_8080
    }

    /// A byte that can stand in a key as itself (not a quote, backslash or control byte).
    @inlinable @inline(__always)
    static func isPlainKeyByte(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
    }

    @inlinable @inline(__always)
    static func isNumberByte(_ byte: UInt8) -> Bool {
        (byte &- UInt8(ascii: "0")) < 10 || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+")
    }

    @inlinable
    mutating func enter(_ opening: UInt8) throws(JSONError) {
        skipWhitespace()
        guard position < end else { throw error(.truncated) }
        guard position.pointee == opening else { throw error(.unexpectedByte(position.pointee)) }
        guard depth < Self.maxDepth - 1 else { throw error(.tooDeep) }
        position += 1
        depth += 1
        needsSeparator &= ~(1 << UInt64(depth))
    }

    /// Steps over the separator before the next member/element, or the closing bracket.
    @inlinable
    mutating func nextItem(closing: UInt8) throws(JSONError) -> Bool {
        // The usual case in compact frames: a comma after an item, the next item right behind it.
        if _fastPath(end - position >= 2 && position.pointee == UInt8(ascii: ",") && position[1] > 0x20)
            && needsSeparator & (1 &<< UInt64(truncatingIfNeeded: depth)) != 0 {
            position += 1
            return true
        }
        skipWhitespace()
        guard position < end else { throw error(.truncated) }
        let bit: UInt64 = 1 << UInt64(depth)
        if position.pointee == closing {
            position += 1
            depth -= 1
            return false
        }
        if needsSeparator & bit != 0 {
            guard position.pointee == UInt8(ascii: ",") else { throw error(.unexpectedByte(position.pointee)) }
            position += 1
            skipWhitespace()
            guard position < end else { throw error(.truncated) }
        } else {
            needsSeparator |= bit
        }
        return true
    }

    @inlinable
    mutating func consumeLiteral(_ literal: StaticString) throws(JSONError) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard end - position >= count else {
            if position < end && position.pointee == literal.utf8Start.pointee { throw error(.truncated) }
            return false
        }
        guard equalBytes(position, literal.utf8Start, count) else { return false }
        position += count
        return true
    }
}

/// A view of bytes inside a received frame: no copy, no ownership. Valid only while the
/// frame's buffer is (the WebSocket receive buffer, until the next read).
public struct ByteView: CustomStringConvertible {
    public let start: UnsafePointer<UInt8>
    public let count: Int

    @inlinable
    public init(start: UnsafePointer<UInt8>, count: Int) {
        self.start = start
        self.count = count
    }

    @inlinable
    public subscript(offset: Int) -> UInt8 { start[offset] }

    /// Byte-wise equality with a literal, e.g. `key == "lastUpdateId"`; no allocation.
    @inlinable
    public static func == (view: ByteView, literal: StaticString) -> Bool {
        view.count == literal.utf8CodeUnitCount && equalBytes(view.start, literal.utf8Start, view.count)
    }

    @inlinable
    public static func == (lhs: ByteView, rhs: ByteView) -> Bool {
        lhs.count == rhs.count && equalBytes(lhs.start, rhs.start, lhs.count)
    }

    /// Compares with a String's UTF-8 without allocating.
    public func equals(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { utf8 in
            utf8.count == count && (count == 0 || equalBytes(utf8.baseAddress!, start, count))
        }
    }

    @inlinable
    public var rawBuffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: start, count: count) }

    /// A copy as a String (set-up, logs and tests; allocates).
    public var string: String { String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self) }
    public var description: String { string }
}

@usableFromInline @inline(__always)
func equalBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    var index = 0
    while index < count {
        if a[index] != b[index] { return false }
        index += 1
    }
    return true
}

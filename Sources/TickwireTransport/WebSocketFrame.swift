/// RFC 6455 framing as pure functions over bytes: no socket, no state, so it can be
/// unit-tested and fuzzed directly.

public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// A peer broke RFC 6455. The connection is closed with 1002 (or 1007 for bad close text).
public enum WebSocketProtocolError: Error, Equatable, Sendable {
    case reservedBitsSet
    case unknownOpcode(UInt8)
    case controlFrameTooLong(Int)
    case fragmentedControlFrame
    /// A server must not mask; a client must mask (RFC 6455 §5.1).
    case maskedFrameFromServer
    case unmaskedFrameFromClient
    /// 16/64-bit length used for a length the shorter form could carry, or a 64-bit length with the top bit set.
    case invalidLengthEncoding
    case continuationWithoutMessage
    case messageInterruptedByNewMessage
    case invalidClosePayload
    case invalidCloseCode(UInt16)
}

/// Close codes used by Tickwire (RFC 6455 §7.4.1).
public enum WebSocketCloseCode {
    public static let normal: UInt16 = 1000
    public static let goingAway: UInt16 = 1001
    public static let protocolError: UInt16 = 1002
    /// Reported when a close frame carried no code (never sent on the wire).
    public static let noStatus: UInt16 = 1005
    public static let messageTooBig: UInt16 = 1009
}

public struct WebSocketFrameHeader: Equatable, Sendable {
    public var fin: Bool
    public var opcode: WebSocketOpcode
    /// The masking key as it appears on the wire (big-endian bytes in a UInt32), when masked.
    public var maskKey: UInt32?
    public var payloadLength: Int
    public var headerLength: Int

    public var frameLength: Int { headerLength + payloadLength }

    /// Largest header: 2 + 8 (64-bit length) + 4 (mask).
    public static let maximumLength = 14

    public init(fin: Bool, opcode: WebSocketOpcode, maskKey: UInt32?, payloadLength: Int, headerLength: Int) {
        self.fin = fin
        self.opcode = opcode
        self.maskKey = maskKey
        self.payloadLength = payloadLength
        self.headerLength = headerLength
    }

    /// Parses the header at the start of `bytes`; nil when more bytes are needed.
    /// `fromClient`: frames must be masked (server side) rather than unmasked (client side).
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer, fromClient: Bool) throws(WebSocketProtocolError) -> WebSocketFrameHeader? {
        guard bytes.count >= 2 else { return nil }
        let first = bytes[0]
        let second = bytes[1]
        guard first & 0x70 == 0 else { throw .reservedBitsSet }
        guard let opcode = WebSocketOpcode(rawValue: first & 0x0F) else { throw .unknownOpcode(first & 0x0F) }
        let fin = first & 0x80 != 0
        let masked = second & 0x80 != 0
        if masked != fromClient { throw fromClient ? .unmaskedFrameFromClient : .maskedFrameFromServer }
        var length = Int(second & 0x7F)
        var headerLength = 2
        if length == 126 {
            guard bytes.count >= 4 else { return nil }
            length = Int(bytes[2]) << 8 | Int(bytes[3])
            guard length >= 126 else { throw .invalidLengthEncoding }
            headerLength = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return nil }
            var wide: UInt64 = 0
            for index in 2..<10 { wide = wide << 8 | UInt64(bytes[index]) }
            guard wide > 0xFFFF, wide >> 63 == 0 else { throw .invalidLengthEncoding }
            length = Int(truncatingIfNeeded: wide)
            headerLength = 10
        }
        if opcode.isControl {
            guard fin else { throw .fragmentedControlFrame }
            guard length <= 125 else { throw .controlFrameTooLong(length) }
        }
        var maskKey: UInt32?
        if masked {
            guard bytes.count >= headerLength + 4 else { return nil }
            maskKey = bytes.loadUnaligned(fromByteOffset: headerLength, as: UInt32.self)
            headerLength += 4
        }
        return WebSocketFrameHeader(fin: fin, opcode: opcode, maskKey: maskKey, payloadLength: length, headerLength: headerLength)
    }

    /// Writes a header for a frame of `payloadLength` bytes at `destination` (room for
    /// `maximumLength`); returns its length.
    @inlinable
    public static func encode(fin: Bool = true, opcode: WebSocketOpcode, payloadLength: Int, maskKey: UInt32?,
                              into destination: UnsafeMutableRawPointer) -> Int {
        destination.storeBytes(of: (fin ? 0x80 : 0) | opcode.rawValue, as: UInt8.self)
        let maskBit: UInt8 = maskKey == nil ? 0 : 0x80
        var length: Int
        if payloadLength < 126 {
            destination.storeBytes(of: maskBit | UInt8(payloadLength), toByteOffset: 1, as: UInt8.self)
            length = 2
        } else if payloadLength <= 0xFFFF {
            destination.storeBytes(of: maskBit | 126, toByteOffset: 1, as: UInt8.self)
            destination.storeBytes(of: UInt16(payloadLength).bigEndian, toByteOffset: 2, as: UInt16.self)
            length = 4
        } else {
            destination.storeBytes(of: maskBit | 127, toByteOffset: 1, as: UInt8.self)
            destination.storeBytes(of: UInt64(payloadLength).bigEndian, toByteOffset: 2, as: UInt64.self)
            length = 10
        }
        if let maskKey {
            destination.storeBytes(of: maskKey, toByteOffset: length, as: UInt32.self)
            length += 4
        }
        return length
    }
}

public enum WebSocketMasking {
    /// XORs `count` bytes from `source` with the wire-order mask key into `destination`
    /// (which may be `source`: unmasking in place). Eight bytes at a time.
    @inlinable
    public static func apply(maskKey: UInt32, from source: UnsafeRawPointer, to destination: UnsafeMutableRawPointer, count: Int) {
        let wideKey = UInt64(maskKey) | UInt64(maskKey) << 32
        var offset = 0
        while offset + 8 <= count {
            let word = source.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            destination.storeBytes(of: word ^ wideKey, toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        while offset < count {
            let keyByte = UInt8(truncatingIfNeeded: maskKey >> UInt32((offset & 3) * 8))
            destination.storeBytes(of: source.load(fromByteOffset: offset, as: UInt8.self) ^ keyByte, toByteOffset: offset, as: UInt8.self)
            offset += 1
        }
    }
}

public enum WebSocketClosePayload {
    /// The code and reason of a close frame's payload; 1005 when it carried none.
    public static func parse(_ payload: UnsafeRawBufferPointer) throws(WebSocketProtocolError) -> (code: UInt16, reason: UnsafeRawBufferPointer) {
        if payload.isEmpty { return (WebSocketCloseCode.noStatus, UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard payload.count >= 2 else { throw .invalidClosePayload }
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        guard isValidOnTheWire(code) else { throw .invalidCloseCode(code) }
        let reason = UnsafeRawBufferPointer(rebasing: payload[2...])
        guard String(validating: reason, as: UTF8.self) != nil else { throw .invalidClosePayload }
        return (code, reason)
    }

    /// Codes a peer may send (RFC 6455 §7.4; 1004-1006 and 1015 are reserved, 1012-1014 registered later).
    public static func isValidOnTheWire(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }
}

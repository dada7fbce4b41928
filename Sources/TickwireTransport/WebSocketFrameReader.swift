#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A frame or complete message taken from the receive buffer. Payload views point into the
/// buffer and stay valid until the next `writableTail()` (i.e. the next socket read).
public enum WebSocketInboundFrame {
    case text(UnsafeRawBufferPointer)
    case binary(UnsafeRawBufferPointer)
    case ping(UnsafeRawBufferPointer)
    case pong(UnsafeRawBufferPointer)
    case close(code: UInt16, reason: UnsafeRawBufferPointer)
}

/// The preallocated receive buffer of one WebSocket connection and the in-place frame
/// decoder over it. Socket reads land in `writableTail()`; `nextFrame()` parses complete
/// frames where they lie, unmasks client frames in place, and reassembles fragmented
/// messages by moving each continuation's payload down to the end of the previous one,
/// so a message is always one contiguous view. Nothing allocates after `init`.
///
/// No socket in here: tests and the fuzzer feed bytes directly.
public final class WebSocketFrameReader {
    private let storage: UnsafeMutableRawPointer
    private let capacity: Int
    /// Minimum free space offered to each read.
    private let readChunk: Int
    public let maximumMessageSize: Int
    private let fromClient: Bool

    /// Next unparsed byte, and the end of received bytes.
    private var parseIndex = 0
    private var writeIndex = 0
    /// A fragmented message in progress: its payload so far lies at messageStart..<messageStart+messageLength.
    private var messageOpcode: WebSocketOpcode?
    private var messageStart = 0
    private var messageLength = 0

    /// `fromClient`: this end is a server, so frames must arrive masked.
    public init(maximumMessageSize: Int, readChunk: Int, fromClient: Bool) {
        self.maximumMessageSize = maximumMessageSize
        self.readChunk = max(readChunk, 512)
        self.fromClient = fromClient
        // Worst case kept across a read: a message one byte short of the limit, then a
        // control frame (2 + 125 + 4) or the next fragment's header; plus a full read chunk.
        capacity = maximumMessageSize + 256 + self.readChunk
        storage = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit { storage.deallocate() }

    /// Bytes received but not yet parsed (the upgrade response head, before frames start).
    public var unparsedBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage + parseIndex, count: writeIndex - parseIndex)
    }

    /// Skips `count` unparsed bytes (an HTTP head already handled).
    public func consume(_ count: Int) { parseIndex += count }

    /// Forgets everything: a fresh connection.
    public func reset() {
        parseIndex = 0
        writeIndex = 0
        messageOpcode = nil
        messageLength = 0
    }

    /// Where the next socket read goes; compacts first when the free tail is short.
    /// Invalidates every view handed out before.
    @inline(__always)
    public func writableTail() -> UnsafeMutableRawBufferPointer {
        if _slowPath(capacity - writeIndex < readChunk) || (parseIndex == writeIndex && messageOpcode == nil) {
            compact()
        }
        return UnsafeMutableRawBufferPointer(start: storage + writeIndex, count: capacity - writeIndex)
    }

    @inline(__always)
    public func didWrite(_ count: Int) { writeIndex += count }

    /// The next complete frame or message; nil when more bytes are needed. Pings, pongs and
    /// closes come out as they arrive, even in the middle of a fragmented message.
    public func nextFrame() throws(TransportError) -> WebSocketInboundFrame? {
        while true {
            let available = UnsafeRawBufferPointer(start: storage + parseIndex, count: writeIndex - parseIndex)
            let parsed: WebSocketFrameHeader?
            do throws(WebSocketProtocolError) {
                parsed = try WebSocketFrameHeader.parse(available, fromClient: fromClient)
            } catch {
                throw .protocolError(error)
            }
            guard let header = parsed else { return nil }
            if !header.opcode.isControl {
                try checkSequence(header)
                let messageSoFar = header.opcode == .continuation ? messageLength : 0
                // Refuse as soon as the header announces too much, before buffering the payload.
                if header.payloadLength > maximumMessageSize - messageSoFar { throw .oversize(limit: maximumMessageSize) }
            }
            guard available.count >= header.frameLength else { return nil }
            let payloadStart = storage + parseIndex + header.headerLength
            if let maskKey = header.maskKey {
                WebSocketMasking.apply(maskKey: maskKey, from: payloadStart, to: payloadStart, count: header.payloadLength)
            }
            parseIndex += header.frameLength
            let payload = UnsafeRawBufferPointer(start: payloadStart, count: header.payloadLength)
            switch header.opcode {
            case .ping: return .ping(payload)
            case .pong: return .pong(payload)
            case .close:
                do throws(WebSocketProtocolError) {
                    let (code, reason) = try WebSocketClosePayload.parse(payload)
                    return .close(code: code, reason: reason)
                } catch {
                    throw .protocolError(error)
                }
            case .text, .binary:
                if header.fin { return message(header.opcode, payload) }
                messageOpcode = header.opcode
                messageStart = payloadStart - storage
                messageLength = header.payloadLength
            case .continuation:
                let end = storage + messageStart + messageLength
                if end != payloadStart { memmove(end, payloadStart, header.payloadLength) }
                messageLength += header.payloadLength
                if header.fin, let opcode = messageOpcode {
                    messageOpcode = nil
                    return message(opcode, UnsafeRawBufferPointer(start: storage + messageStart, count: messageLength))
                }
            }
        }
    }

    @inline(__always)
    private func message(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer) -> WebSocketInboundFrame {
        opcode == .text ? .text(payload) : .binary(payload)
    }

    private func checkSequence(_ header: WebSocketFrameHeader) throws(TransportError) {
        let inMessage = messageOpcode != nil
        if header.opcode == .continuation && !inMessage { throw .protocolError(.continuationWithoutMessage) }
        if header.opcode != .continuation && inMessage { throw .protocolError(.messageInterruptedByNewMessage) }
    }

    /// Moves live bytes to the front: the message in progress (if any), then the unparsed rest.
    private func compact() {
        var front = 0
        if messageOpcode != nil {
            if messageStart > 0 { memmove(storage, storage + messageStart, messageLength) }
            messageStart = 0
            front = messageLength
        }
        let unparsed = writeIndex - parseIndex
        if parseIndex != front { memmove(storage + front, storage + parseIndex, unparsed) }
        parseIndex = front
        writeIndex = front + unparsed
    }
}

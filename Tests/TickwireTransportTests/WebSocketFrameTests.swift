import Testing
@testable import TickwireTransport

/// Encodes a frame (header + optionally masked payload) into bytes.
func encodeFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, maskKey: UInt32? = nil) -> [UInt8] {
    var frame = [UInt8](repeating: 0, count: WebSocketFrameHeader.maximumLength + payload.count)
    let headerLength = frame.withUnsafeMutableBytes { buffer in
        let headerLength = WebSocketFrameHeader.encode(fin: fin, opcode: opcode, payloadLength: payload.count, maskKey: maskKey, into: buffer.baseAddress!)
        payload.withUnsafeBytes { source in
            guard let base = source.baseAddress else { return }
            if let maskKey {
                WebSocketMasking.apply(maskKey: maskKey, from: base, to: buffer.baseAddress! + headerLength, count: payload.count)
            } else {
                (buffer.baseAddress! + headerLength).copyMemory(from: base, byteCount: payload.count)
            }
        }
        return headerLength
    }
    frame.removeLast(WebSocketFrameHeader.maximumLength - headerLength)
    return frame
}

func parseHeader(_ bytes: [UInt8], fromClient: Bool = false) throws(WebSocketProtocolError) -> WebSocketFrameHeader? {
    try bytes.withUnsafeBytes { buffer in
        Result { () throws(WebSocketProtocolError) in try WebSocketFrameHeader.parse(buffer, fromClient: fromClient) }
    }.get()
}

@Suite struct WebSocketFrameTests {
    @Test(arguments: [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (1 << 20, 10)])
    func lengthEncodingsRoundTrip(length: Int, expectedHeader: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0) }
        let frame = encodeFrame(.binary, payload)
        #expect(frame.count == expectedHeader + length)
        let header = try #require(try parseHeader(frame))
        #expect(header == WebSocketFrameHeader(fin: true, opcode: .binary, maskKey: nil, payloadLength: length, headerLength: expectedHeader))
        // Every strict prefix of the header needs more bytes.
        for cut in 0..<expectedHeader { #expect(try parseHeader(Array(frame[..<cut])) == nil) }
    }

    @Test func maskedFramesCarryTheKeyAndUnmask() throws {
        // RFC 6455 §5.7: a masked "Hello" with key 37 fa 21 3d.
        let key = UInt32(0x3d21fa37)  // wire bytes 37 fa 21 3d, loaded little-endian
        let frame = encodeFrame(.text, Array("Hello".utf8), maskKey: key)
        #expect(frame == [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
        let header = try #require(try parseHeader(frame, fromClient: true))
        #expect(header.maskKey == key && header.headerLength == 6 && header.payloadLength == 5)
        var payload = Array(frame[6...])
        payload.withUnsafeMutableBytes { WebSocketMasking.apply(maskKey: key, from: $0.baseAddress!, to: $0.baseAddress!, count: $0.count) }
        #expect(payload == Array("Hello".utf8))
    }

    @Test func maskingLongPayloadsMatchesBytewiseXor() {
        let key: UInt32 = 0xA1B2C3D4
        let source = (0..<1003).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var masked = source
        masked.withUnsafeMutableBytes { WebSocketMasking.apply(maskKey: key, from: $0.baseAddress!, to: $0.baseAddress!, count: $0.count) }
        let keyBytes = withUnsafeBytes(of: key) { Array($0) }
        #expect(masked == source.enumerated().map { $0.element ^ keyBytes[$0.offset % 4] })
    }

    @Test func protocolViolationsAreTypedErrors() {
        #expect(throws: WebSocketProtocolError.reservedBitsSet) { try parseHeader([0xC1, 0x00]) }
        #expect(throws: WebSocketProtocolError.unknownOpcode(3)) { try parseHeader([0x83, 0x00]) }
        #expect(throws: WebSocketProtocolError.unknownOpcode(0xB)) { try parseHeader([0x8B, 0x00]) }
        #expect(throws: WebSocketProtocolError.fragmentedControlFrame) { try parseHeader([0x09, 0x00]) }
        #expect(throws: WebSocketProtocolError.controlFrameTooLong(126)) { try parseHeader([0x89, 126, 0, 126]) }
        #expect(throws: WebSocketProtocolError.maskedFrameFromServer) { try parseHeader([0x81, 0x80, 1, 2, 3, 4]) }
        #expect(throws: WebSocketProtocolError.unmaskedFrameFromClient) { try parseHeader([0x81, 0x00], fromClient: true) }
        #expect(throws: WebSocketProtocolError.invalidLengthEncoding) { try parseHeader([0x82, 126, 0, 125]) }
        #expect(throws: WebSocketProtocolError.invalidLengthEncoding) { try parseHeader([0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]) }
        #expect(throws: WebSocketProtocolError.invalidLengthEncoding) { try parseHeader([0x82, 127, 0x80, 0, 0, 0, 0, 1, 0, 0]) }
    }

    @Test func closePayloads() throws {
        func parse(_ bytes: [UInt8]) throws(WebSocketProtocolError) -> UInt16 {
            try bytes.withUnsafeBytes { buffer in
                Result { () throws(WebSocketProtocolError) in try WebSocketClosePayload.parse(buffer).code }
            }.get()
        }
        #expect(try parse([]) == WebSocketCloseCode.noStatus)
        #expect(try parse([0x03, 0xE8] + Array("bye".utf8)) == 1000)
        #expect(try parse([0x0F, 0xA1]) == 4001)
        #expect(throws: WebSocketProtocolError.invalidClosePayload) { try parse([0x03]) }
        #expect(throws: WebSocketProtocolError.invalidCloseCode(1005)) { try parse([0x03, 0xED]) }
        #expect(throws: WebSocketProtocolError.invalidCloseCode(999)) { try parse([0x03, 0xE7]) }
        #expect(throws: WebSocketProtocolError.invalidClosePayload) { try parse([0x03, 0xE8, 0xFF, 0xFE]) }
    }
}

@Suite struct WebSocketFrameReaderTests {
    enum Frame: Equatable {
        case text(String), binary([UInt8]), ping([UInt8]), pong([UInt8]), close(UInt16, String)
    }

    /// Feeds `bytes` in pieces of `step` and collects every frame, copied out.
    func decode(_ bytes: [UInt8], step: Int, maximumMessageSize: Int = 1 << 20, fromClient: Bool = false) throws(TransportError) -> [Frame] {
        let reader = WebSocketFrameReader(maximumMessageSize: maximumMessageSize, readChunk: 512, fromClient: fromClient)
        var frames: [Frame] = []
        var offset = 0
        while offset < bytes.count {
            let tail = reader.writableTail()
            let count = min(step, tail.count, bytes.count - offset)
            bytes[offset..<offset + count].withUnsafeBytes { tail.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: count) }
            reader.didWrite(count)
            offset += count
            while let frame = try reader.nextFrame() {
                switch frame {
                case .text(let payload): frames.append(.text(String(decoding: payload, as: UTF8.self)))
                case .binary(let payload): frames.append(.binary(Array(payload)))
                case .ping(let payload): frames.append(.ping(Array(payload)))
                case .pong(let payload): frames.append(.pong(Array(payload)))
                case .close(let code, let reason): frames.append(.close(code, String(decoding: reason, as: UTF8.self)))
                }
            }
        }
        return frames
    }

    @Test(arguments: [1, 3, 7, 100, 4096])
    func fragmentedMessageWithInterleavedControlFramesIsReassembled(step: Int) throws {
        let big = String(repeating: "x", count: 3000)
        let bytes = encodeFrame(.text, Array("{\"a\":".utf8), fin: false)
            + encodeFrame(.ping, [1, 2, 3])
            + encodeFrame(.continuation, Array(big.utf8), fin: false)
            + encodeFrame(.pong, [])
            + encodeFrame(.continuation, Array("1}".utf8))
            + encodeFrame(.binary, [9, 9])
            + encodeFrame(.close, [0x03, 0xE8] + Array("done".utf8))
        let frames = try decode(bytes, step: step)
        #expect(frames == [.ping([1, 2, 3]), .pong([]), .text("{\"a\":" + big + "1}"), .binary([9, 9]), .close(1000, "done")])
    }

    @Test func maskedClientFramesAreUnmaskedInPlace() throws {
        let bytes = encodeFrame(.text, Array("subscribe".utf8), maskKey: 0x01020304)
            + encodeFrame(.text, Array("more".utf8), fin: false, maskKey: 0xDEADBEEF)
            + encodeFrame(.continuation, Array("!".utf8), maskKey: 0x0BADF00D)
        #expect(try decode(bytes, step: 5, fromClient: true) == [.text("subscribe"), .text("more!")])
    }

    @Test func oversizeIsRefusedFromTheHeader() {
        // Only the header of the big frame arrives: it is refused before any payload is buffered.
        let header = Array(encodeFrame(.text, [UInt8](repeating: 65, count: 2000)).prefix(4))
        #expect(throws: TransportError.oversize(limit: 1000)) { try decode(header, step: 4, maximumMessageSize: 1000) }
        // Fragments count together.
        let fragments = encodeFrame(.text, [UInt8](repeating: 65, count: 600), fin: false) + encodeFrame(.continuation, [UInt8](repeating: 66, count: 600))
        #expect(throws: TransportError.oversize(limit: 1000)) { try decode(fragments, step: 50, maximumMessageSize: 1000) }
    }

    @Test func badSequencesAreProtocolErrors() {
        #expect(throws: TransportError.protocolError(.continuationWithoutMessage)) {
            try decode(encodeFrame(.continuation, [1]), step: 10)
        }
        #expect(throws: TransportError.protocolError(.messageInterruptedByNewMessage)) {
            try decode(encodeFrame(.text, [65], fin: false) + encodeFrame(.text, [66]), step: 10)
        }
        #expect(throws: TransportError.protocolError(.invalidCloseCode(1006))) {
            try decode(encodeFrame(.close, [0x03, 0xEE]), step: 10)
        }
    }

    @Test func manyMessagesThroughASmallBufferKeepCompacting() throws {
        var bytes: [UInt8] = []
        var expected: [Frame] = []
        for index in 0..<500 {
            let text = String(repeating: Character(UnicodeScalar(UInt8(65 + index % 26))), count: index * 7 % 1500)
            bytes += encodeFrame(.text, Array(text.utf8))
            expected.append(.text(text))
        }
        #expect(try decode(bytes, step: 777, maximumMessageSize: 2000) == expected)
    }
}

import TickwireTransport

// libFuzzer target for the RFC 6455 frame parser (WebSocketFrameHeader.parse) and the
// in-place frame reader (WebSocketFrameReader), client side and server side.
//
// Input: byte 0 = mode (bit 0: frames from a client, i.e. the server side that unmasks;
// bits 1-3: maximum message size; bits 4-6: largest read chunk), byte 1 = seed of the
// read-chunk sizes, the rest = the byte stream as it arrives on the socket.
//
// Checks:
// - the reader, fed the stream in fuzz-chosen chunks, yields exactly what an independent
//   reference decoder (whole stream in one array, byte-wise unmasking, Array-based
//   reassembly) yields: same frames and messages, same bytes, same first error;
// - every read is offered at least `readChunk` bytes of free space (it can always progress);
// - a parsed header re-encodes to the very bytes it was parsed from (lengths are minimal),
//   and every shorter prefix of it parses as "need more bytes", for both directions;
// - AddressSanitizer: the reader never touches memory outside its buffer.

enum Event: Equatable {
    case text([UInt8]), binary([UInt8]), ping([UInt8]), pong([UInt8]), close(UInt16, [UInt8]), failed(TransportError)
}

enum FrameFuzz {
    static let maximumSizes = [0, 1, 16, 125, 126, 127, 1000, 65536]
    static let chunkLimits = [1, 2, 7, 64, 200, 600, 2000, 8192]
    static let readChunk = 512

    static func run(_ data: UnsafePointer<UInt8>, _ size: Int) {
        guard size >= 2 else { return }
        let mode = data[0]
        var seed = UInt32(data[1]) &* 0x9E37_79B9 | 1
        let fromClient = mode & 1 != 0
        let maximum = maximumSizes[Int(mode >> 1) & 7]
        let chunkLimit = chunkLimits[Int(mode >> 4) & 7]
        // The stream in its own exactly-sized block: the reference decoder must not over-read either.
        let count = size - 2
        let stream = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { stream.deallocate() }
        stream.copyMemory(from: UnsafeRawBufferPointer(start: data + 2, count: count))
        let bytes = UnsafeRawBufferPointer(stream)

        checkHeader(bytes, fromClient: true)
        checkHeader(bytes, fromClient: false)

        let expected = reference(bytes, fromClient: fromClient, maximum: maximum)
        let reader = WebSocketFrameReader(maximumMessageSize: maximum, readChunk: readChunk, fromClient: fromClient)
        var got: [Event] = []
        var position = 0
        feeding: while true {
            while true {
                do throws(TransportError) {
                    guard let frame = try reader.nextFrame() else { break }
                    got.append(event(frame))
                } catch {
                    got.append(.failed(error))
                    break feeding
                }
            }
            if position == count { break }
            let tail = reader.writableTail()
            precondition(tail.count >= readChunk, "reader offers only \(tail.count) bytes to a read")
            seed ^= seed << 13
            seed ^= seed >> 17
            seed ^= seed << 5
            let chunk = min(Int(seed % UInt32(chunkLimit)) + 1, tail.count, count - position)
            tail.baseAddress!.copyMemory(from: bytes.baseAddress! + position, byteCount: chunk)
            reader.didWrite(chunk)
            position += chunk
        }
        precondition(got == expected, "reader and reference disagree:\n reader:    \(got)\n reference: \(expected)")
    }

    static func event(_ frame: WebSocketInboundFrame) -> Event {
        switch frame {
        case .text(let payload): .text(Array(payload))
        case .binary(let payload): .binary(Array(payload))
        case .ping(let payload): .ping(Array(payload))
        case .pong(let payload): .pong(Array(payload))
        case .close(let code, let reason): .close(code, Array(reason))
        }
    }

    /// The header at the start of `bytes`: re-encodes to the same bytes; shorter prefixes need more bytes.
    static func checkHeader(_ bytes: UnsafeRawBufferPointer, fromClient: Bool) {
        let parsed: WebSocketFrameHeader?
        do throws(WebSocketProtocolError) {
            parsed = try WebSocketFrameHeader.parse(bytes, fromClient: fromClient)
        } catch {
            return
        }
        guard let header = parsed else {
            precondition(bytes.count < WebSocketFrameHeader.maximumLength, "no header in \(bytes.count) bytes")
            return
        }
        precondition([2, 4, 6, 8, 10, 14].contains(header.headerLength) && header.headerLength <= bytes.count)
        precondition(header.payloadLength >= 0 && (header.maskKey != nil) == fromClient)
        precondition(!header.opcode.isControl || (header.fin && header.payloadLength <= 125))
        var encoded = [UInt8](repeating: 0, count: WebSocketFrameHeader.maximumLength)
        let length = encoded.withUnsafeMutableBytes {
            WebSocketFrameHeader.encode(fin: header.fin, opcode: header.opcode, payloadLength: header.payloadLength,
                                        maskKey: header.maskKey, into: $0.baseAddress!)
        }
        precondition(length == header.headerLength && encoded[..<length].elementsEqual(bytes[..<length]),
                     "header \(header) does not re-encode to its bytes")
        for prefix in 0..<header.headerLength {
            let shorter = try? WebSocketFrameHeader.parse(UnsafeRawBufferPointer(rebasing: bytes[..<prefix]), fromClient: fromClient)
            precondition(shorter == .some(nil), "a \(prefix)-byte prefix of a \(header.headerLength)-byte header did not ask for more")
        }
    }

    /// RFC 6455 decoding of the whole stream, written the plain way.
    static func reference(_ bytes: UnsafeRawBufferPointer, fromClient: Bool, maximum: Int) -> [Event] {
        var events: [Event] = []
        var position = 0
        var messageOpcode: WebSocketOpcode?
        var message: [UInt8] = []
        while true {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
            let parsed: WebSocketFrameHeader?
            do throws(WebSocketProtocolError) {
                parsed = try WebSocketFrameHeader.parse(rest, fromClient: fromClient)
            } catch {
                events.append(.failed(.protocolError(error)))
                return events
            }
            guard let header = parsed else { return events }
            if !header.opcode.isControl {
                if header.opcode == .continuation && messageOpcode == nil {
                    events.append(.failed(.protocolError(.continuationWithoutMessage)))
                    return events
                }
                if header.opcode != .continuation && messageOpcode != nil {
                    events.append(.failed(.protocolError(.messageInterruptedByNewMessage)))
                    return events
                }
                let soFar = header.opcode == .continuation ? message.count : 0
                if header.payloadLength > maximum - soFar {
                    events.append(.failed(.oversize(limit: maximum)))
                    return events
                }
            }
            guard rest.count >= header.headerLength + header.payloadLength else { return events }
            var payload = Array(rest[header.headerLength..<(header.headerLength + header.payloadLength)])
            if header.maskKey != nil {
                let key = Array(rest[(header.headerLength - 4)..<header.headerLength])
                for index in payload.indices { payload[index] ^= key[index % 4] }
            }
            position += header.headerLength + header.payloadLength
            switch header.opcode {
            case .ping: events.append(.ping(payload))
            case .pong: events.append(.pong(payload))
            case .close:
                if payload.isEmpty {
                    events.append(.close(WebSocketCloseCode.noStatus, []))
                } else if payload.count < 2 {
                    events.append(.failed(.protocolError(.invalidClosePayload)))
                    return events
                } else {
                    let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
                    guard WebSocketClosePayload.isValidOnTheWire(code) else {
                        events.append(.failed(.protocolError(.invalidCloseCode(code))))
                        return events
                    }
                    let reason = Array(payload[2...])
                    guard String(validating: reason, as: UTF8.self) != nil else {
                        events.append(.failed(.protocolError(.invalidClosePayload)))
                        return events
                    }
                    events.append(.close(code, reason))
                }
            case .text, .binary:
                if header.fin {
                    events.append(header.opcode == .text ? .text(payload) : .binary(payload))
                } else {
                    messageOpcode = header.opcode
                    message = payload
                }
            case .continuation:
                message += payload
                if header.fin, let opcode = messageOpcode {
                    events.append(opcode == .text ? .text(message) : .binary(message))
                    messageOpcode = nil
                    message = []
                }
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocketFrame(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FrameFuzz.run(data, size)
    return 0
}

import TickwireCore

// libFuzzer target for the wire protocol v1 decoder (PacketReader) over arbitrary datagrams.
//
// Input: the datagram, as received (no mode byte: every byte is packet).
//
// Checks:
// - the reader reports exactly the first error an independent reference validator finds,
//   following docs/PROTOCOL.md "Validating a packet" step by step on a byte array (or none);
// - a valid packet re-encodes through PacketWriter and decodes again to the same header and
//   the same messages (unknown types are skipped by both);
// - AddressSanitizer: the packet is an exactly-sized block, and snapshot levels are read
//   through the returned chunk, so any read outside the datagram faults.

enum WireDecoderFuzz {
    /// Where `touchLevels` leaves its sum, so the reads are not optimized away.
    nonisolated(unsafe) static var levelSink: Int64 = 0
    nonisolated(unsafe) static let scratch = UnsafeMutableRawBufferPointer.allocate(
        byteCount: WireProtocol.largestPacketSize, alignment: 8)

    static func run(_ data: UnsafePointer<UInt8>, _ size: Int) {
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 1)
        defer { block.deallocate() }
        block.copyMemory(from: UnsafeRawBufferPointer(start: data, count: size))
        let packet = UnsafeRawBufferPointer(block)
        let bytes = Array(packet)

        var messages: [WireMessage] = []
        var header: PacketHeader?
        var failure: WireDecodeError?
        do throws(WireDecodeError) {
            var reader = try PacketReader(packet: packet)
            header = reader.header
            while let message = try reader.next() {
                if case .bookSnapshot(let chunk) = message { touchLevels(chunk) }
                messages.append(message)
            }
        } catch {
            failure = error
        }
        let expected = reference(bytes)
        if let failure, case .invalidFieldValue(_, let type, _, _) = failure, !referenceFieldRules.contains(type) {
            // A type whose field rules were added after this reference: the decoder knows more.
        } else {
            precondition(failure == expected, "reader says \(String(describing: failure)), reference \(String(describing: expected))")
        }
        if failure == nil, let header { checkRoundTrip(header: header, messages: messages) }
    }

    /// Reads every level the chunk claims (ASan flags any outside the packet).
    static func touchLevels(_ chunk: BookSnapshotChunk) {
        for index in 0..<chunk.bidCount { levelSink &+= chunk.bid(at: index).price.mantissa }
        for index in 0..<chunk.askCount { levelSink &+= chunk.ask(at: index).quantity.mantissa }
    }

    static func checkRoundTrip(header: PacketHeader, messages: [WireMessage]) {
        var writer = PacketWriter(buffer: scratch, maxPacketSize: WireProtocol.largestPacketSize)
        writer.begin(channel: header.channel, sequence: header.sequence, sendTime: header.sendTime,
                     session: header.session, flags: header.flags)
        let known = messages.filter { if case .unknown = $0 { false } else { true } }
        for message in known { precondition(writer.append(message), "a decoded message does not re-encode") }
        let length = writer.finish()
        do throws(WireDecodeError) {
            var reader = try PacketReader(packet: UnsafeRawBufferPointer(rebasing: scratch[..<length]))
            var again: [WireMessage] = []
            while let message = try reader.next() { again.append(message) }
            var expectedHeader = header
            expectedHeader.messageCount = UInt16(known.count)
            precondition(reader.header == expectedHeader, "header changed: \(reader.header) vs \(expectedHeader)")
            precondition(again == known, "messages changed in the round trip:\n \(again)\n \(known)")
        } catch {
            preconditionFailure("re-encoded packet rejected: \(error)")
        }
    }

    /// Message types whose field values the reference checks (docs/PROTOCOL.md sections 4, 6).
    static let referenceFieldRules: Set<UInt8> = [0x03, 0x04, 0x10, 0x11, 0x13]

    static func u16(_ bytes: [UInt8], _ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }

    /// docs/PROTOCOL.md "Validating a packet", in its order, on a byte array.
    static func reference(_ bytes: [UInt8]) -> WireDecodeError? {
        guard bytes.count >= 32 else { return .packetTooShort(length: bytes.count) }
        guard bytes.count <= 65507 else { return .packetTooLong(length: bytes.count) }
        let magic = UInt16(u16(bytes, 0))
        guard magic == 0x5754 else { return .badMagic(magic) }
        guard bytes[2] == 1 else { return .unsupportedVersion(bytes[2]) }
        let declared = u16(bytes, 6)
        var offset = 32
        for found in 0..<declared {
            let remaining = bytes.count - offset
            if remaining == 0 { return .messageCountMismatch(declared: declared, found: found) }
            guard remaining >= 4 else { return .truncatedMessageHeader(offset: offset, available: remaining) }
            let length = u16(bytes, offset)
            let type = bytes[offset + 2]
            guard length >= 4 else { return .messageTooShort(offset: offset, type: type, length: length) }
            guard length <= remaining else { return .messageOverrunsPacket(offset: offset, length: length, available: remaining) }
            if let minimum = WireMessageType(rawValue: type)?.minimumLength, length < minimum {
                return .messageTooShort(offset: offset, type: type, length: length)
            }
            let message = Array(bytes[offset..<(offset + length)])
            func invalid(_ field: Int) -> WireDecodeError { .invalidFieldValue(offset: offset, type: type, field: field, value: message[field]) }
            switch type {
            case 0x10, 0x13:
                guard message[6] <= 1 else { return invalid(6) }
            case 0x04:
                guard (1...3).contains(message[6]) else { return invalid(6) }
            case 0x03:
                guard message[9] <= 32 else { return invalid(9) }
                guard message[7] <= 18 else { return invalid(7) }
                guard message[8] <= 18 else { return invalid(8) }
            case 0x11:
                let levelsOffset = u16(message, 28)
                let levels = u16(message, 24) + u16(message, 26)
                guard levelsOffset >= 32, levelsOffset + 16 * levels <= length else {
                    return .snapshotLevelsOverrunMessage(offset: offset)
                }
            default:
                break
            }
            offset += length
        }
        guard offset == bytes.count else { return .trailingBytes(offset: offset, count: bytes.count - offset) }
        return nil
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWireDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    WireDecoderFuzz.run(data, size)
    return 0
}

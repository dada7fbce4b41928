import Foundation
import Testing
import TickwireCore

// docs/tickwire_wire.h must describe the bytes the Swift encoder writes: a C program built
// only on that header (docs/examples/decode.c) decodes Swift-encoded packets, valid and
// corrupted, and must print exactly what the Swift decoder reads from them.

@Suite(.enabled(if: CToolchain.cCompiler != nil, "no C compiler (cc, gcc or clang) on PATH"))
struct WireCHeaderTests {
    @Test func cDecoderReadsWhatTheSwiftEncoderWrote() throws {
        let directory = try CToolchain.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let decoder = directory.appendingPathComponent("decode")
        try CToolchain.run(CToolchain.cCompiler!, [
            "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-O1",
            "-I", WireSamples.repositoryRoot.appendingPathComponent("docs").path,
            "-o", decoder.path,
            WireSamples.repositoryRoot.appendingPathComponent("docs/examples/decode.c").path,
        ])

        let packets = WireSamples.mixedPackets(seed: 0xC0DE_C0DE)
        var file = Data()
        for packet in packets {
            withUnsafeBytes(of: UInt32(packet.count).littleEndian) { file.append(contentsOf: $0) }
            file.append(contentsOf: packet)
        }
        let packetsFile = directory.appendingPathComponent("packets.bin")
        try file.write(to: packetsFile)

        let cLines = try CToolchain.run(decoder.path, [packetsFile.path]).split(separator: "\n", omittingEmptySubsequences: false)
        let swiftLines = packets.map { CanonicalText.of(WireSamples.decode($0)) }.joined().split(separator: "\n", omittingEmptySubsequences: false)
        let firstDifference = cLines.indices.first { $0 >= swiftLines.count || cLines[$0] != swiftLines[$0] }
        #expect(firstDifference == nil, "line \(firstDifference ?? 0): C printed \(firstDifference.map { cLines[$0] } ?? ""), Swift \(firstDifference.map { swiftLines[$0] } ?? "")")
        #expect(cLines.count == swiftLines.count)
        #expect(swiftLines.contains { $0.hasPrefix("error ") } && swiftLines.contains { $0.hasPrefix("unknown ") }, "the sample covers errors and unknown types")
    }

    @Test(.enabled(if: CToolchain.find("c++") != nil, "no C++ compiler on PATH"))
    func headerCompilesAsCPlusPlus() throws {
        try CToolchain.run(CToolchain.find("c++")!, [
            "-std=c++11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", "c++",
            WireSamples.repositoryRoot.appendingPathComponent("docs/tickwire_wire.h").path,
        ])
    }
}

/// The text form both decoders print, one line per packet header, message, level or error.
enum CanonicalText {
    static func of(_ outcome: WireDecodeOutcome) -> String {
        var lines: [String] = []
        if let header = outcome.header {
            lines.append(
                "packet channel=\(header.channel) flags=\(header.flags.rawValue) count=\(header.messageCount) sequence=\(header.sequence) send_time=\(header.sendTime) session=\(header.session)")
        }
        for message in outcome.messages { lines += of(message) }
        if let error = outcome.error { lines.append(of(error)) }
        return lines.map { $0 + "\n" }.joined()
    }

    static func of(_ message: OwnedWireMessage) -> [String] {
        switch message {
        case .snapshot(let chunk):
            return ["snapshot instrument=\(chunk.instrument.rawValue) chunk=\(chunk.chunkIndex) last=\(chunk.isLastChunk ? 1 : 0) incremental_sequence=\(chunk.incrementalSequence) update_id=\(chunk.venueUpdateId) bids=\(chunk.bids.count) asks=\(chunk.asks.count)"]
                + chunk.bids.map { "level side=bid price=\($0.price.mantissa) quantity=\($0.quantity.mantissa)" }
                + chunk.asks.map { "level side=ask price=\($0.price.mantissa) quantity=\($0.quantity.mantissa)" }
        case .plain(.heartbeat(let heartbeat)):
            return ["heartbeat next_sequence=\(heartbeat.nextSequence)"]
        case .plain(.endOfSession(let end)):
            return ["end_of_session next_sequence=\(end.nextSequence)"]
        case .plain(.instrumentDefinition(let definition)):
            let symbol = definition.symbol.withUTF8 { $0.map { String(format: "%02x", $0) }.joined() }
            return ["definition instrument=\(definition.instrument.rawValue) venue=\(definition.venueCode) price_scale=\(definition.priceScale.digits) quantity_scale=\(definition.quantityScale.digits) symbol=\(symbol)"]
        case .plain(.bookStatus(let status)):
            return ["status instrument=\(status.instrument.rawValue) state=\(status.state.rawValue) reason=\(status.reason.rawValue) update_id=\(status.venueUpdateId) change_time=\(status.changeTime)"]
        case .plain(.retransmitRequest(let request)):
            return ["retransmit_request count=\(request.count) first_sequence=\(request.firstSequence) request_id=\(request.requestId)"]
        case .plain(.retransmitReject(let reject)):
            return ["retransmit_reject reason=\(reject.reason.rawValue) first_sequence=\(reject.firstSequence) count=\(reject.count) request_id=\(reject.requestId) oldest_available=\(reject.oldestAvailable) next_sequence=\(reject.nextSequence)"]
        case .plain(.bookDelta(let delta)):
            return ["delta instrument=\(delta.instrument.rawValue) side=\(delta.side.rawValue) price=\(delta.price.mantissa) quantity=\(delta.quantity.mantissa) update_id=\(delta.venueUpdateId) event_time=\(delta.eventTime) receive_time=\(delta.receiveTime) last=\(delta.isLastInUpdate ? 1 : 0)"]
        case .plain(.bestBidOffer(let quote)):
            return ["bbo instrument=\(quote.instrument.rawValue) bid_price=\(quote.bidPrice.mantissa) bid_quantity=\(quote.bidQuantity.mantissa) ask_price=\(quote.askPrice.mantissa) ask_quantity=\(quote.askQuantity.mantissa) update_id=\(quote.venueUpdateId) event_time=\(quote.eventTime) receive_time=\(quote.receiveTime)"]
        case .plain(.trade(let trade)):
            return ["trade instrument=\(trade.instrument.rawValue) aggressor=\(trade.aggressor.rawValue) price=\(trade.price.mantissa) quantity=\(trade.quantity.mantissa) trade_id=\(trade.tradeId) digest=\(trade.isTradeIdDigest ? 1 : 0) event_time=\(trade.eventTime) receive_time=\(trade.receiveTime)"]
        case .plain(.unknown(let type)):
            return ["unknown type=\(type)"]
        case .plain(.bookSnapshot):
            preconditionFailure("OwnedWireMessage keeps snapshots in .snapshot")
        }
    }

    static func of(_ error: WireDecodeError) -> String {
        switch error {
        case .packetTooShort(let length): "error packetTooShort length=\(length)"
        case .packetTooLong(let length): "error packetTooLong length=\(length)"
        case .badMagic(let magic): "error badMagic magic=\(magic)"
        case .unsupportedVersion(let version): "error unsupportedVersion version=\(version)"
        case .truncatedMessageHeader(let offset, let available): "error truncatedMessageHeader offset=\(offset) available=\(available)"
        case .messageTooShort(let offset, let type, let length): "error messageTooShort offset=\(offset) type=\(type) length=\(length)"
        case .messageOverrunsPacket(let offset, let length, let available):
            "error messageOverrunsPacket offset=\(offset) length=\(length) available=\(available)"
        case .snapshotLevelsOverrunMessage(let offset): "error snapshotLevelsOverrunMessage offset=\(offset)"
        case .invalidFieldValue(let offset, let type, let field, let value):
            "error invalidFieldValue offset=\(offset) type=\(type) field=\(field) value=\(value)"
        case .messageCountMismatch(let declared, let found): "error messageCountMismatch declared=\(declared) found=\(found)"
        case .trailingBytes(let offset, let count): "error trailingBytes offset=\(offset) count=\(count)"
        }
    }
}

enum CToolchain {
    static let cCompiler = ["cc", "gcc", "clang"].lazy.compactMap(find).first

    /// The first executable of that name on PATH.
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tickwire-wire-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs the program and returns its output; throws with that output if it fails. One pipe
    /// takes stdout and stderr, read to the end before waiting, so the child never stalls on it.
    @discardableResult
    static func run(_ program: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(program) exited with \(process.terminationStatus):\n\(text)")
        }
        return text
    }
}

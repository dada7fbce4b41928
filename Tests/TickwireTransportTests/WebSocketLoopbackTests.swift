import CTickwire
import Foundation
import Testing
@testable import TickwireTransport

extension LoopbackTests {
    @Suite struct WebSocket {
        enum Mode: String, CaseIterable { case ws, wss }

        /// A server (TLS when wss) and a connected client.
        func connected(_ mode: Mode, clientOptions: WebSocketClientOptions = WebSocketClientOptions(),
                       configure: (WebSocketServer) -> Void = { _ in }) throws -> (ServerHarness, WebSocketClient, Int) {
            var options = clientOptions
            var tls: TLSContext?
            if mode == .wss {
                let identity = try GeneratedIdentity()
                tls = identity.context
                options.extraCAFile = identity.caFile
            }
            let server = try ServerHarness(tls: tls, configure: configure)
            let client = try WebSocketClient(url: "\(mode.rawValue)://localhost:\(server.port)/ws?streams=btcusdt@depth", options: options)
            try client.connect()
            let id = try server.firstClient()
            return (server, client, id)
        }

        @Test(arguments: Mode.allCases)
        func textMessagesOfManySizesArriveWholeWithKernelTimestamps(mode: Mode) throws {
            let (server, client, id) = try connected(mode, clientOptions: WebSocketClientOptions(maximumMessageSize: 2 << 20, receiveBufferSize: 16 << 10))
            #expect(server.events.first == .connected(id, "/ws?streams=btcusdt@depth"))
            let sizes = [0, 1, 125, 126, 127, 1000, 16 << 10, 65535, 65536, 300_000, 2 << 20]
            let messages = sizes.map { size in (0..<size).map { UInt8(truncatingIfNeeded: 32 + $0 % 90) } }
            let before = ctw_realtime_ns()
            server.perform { server in for message in messages { message.withUnsafeBytes { server.sendText($0, to: id) } } }
            let (events, stamps) = try client.collect(messages.count)
            let after = ctw_realtime_ns()
            #expect(events == messages.map { .text($0) })
            #expect(client.counters.messages == messages.count && client.counters.bytes == sizes.reduce(0, +))
            // Kernel software RX stamps survive TLS too (the shim's socket BIO keeps them).
            #expect(client.receiveTimestampSource == .kernelSoftware)
            for stamp in stamps {
                #expect(stamp.source == .kernelSoftware)
                #expect(stamp.nanoseconds >= before && stamp.nanoseconds <= after)
            }
        }

        @Test(arguments: Mode.allCases)
        func clientSendsMaskedTextThatTheServerReads(mode: Mode) throws {
            let (server, client, id) = try connected(mode)
            let subscribe = #"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":1}"#
            try [UInt8](subscribe).withUnsafeBytes { try client.sendText($0) }
            let big = [UInt8](repeating: 0x61, count: 70_000)
            try big.withUnsafeBytes { try client.sendText($0) }
            _ = try server.waitFor { events in events.filter { if case .text = $0 { true } else { false } }.count == 2 ? true : nil }
            #expect(server.events.dropFirst() == [.text(id, [UInt8](subscribe)), .text(id, big)])
        }

        @Test func fragmentedMessageWithInterleavedPingIsReassembledAndPingAnswered() throws {
            let (server, client, id) = try connected(.ws, clientOptions: WebSocketClientOptions(receiveBufferSize: 1024))
            let middle = [UInt8](repeating: 0x7A, count: 5000)
            let frames = encodeFrame(.text, [UInt8]("{\"part\":"), fin: false) + encodeFrame(.ping, [UInt8]("are you there"))
                + encodeFrame(.continuation, middle, fin: false) + encodeFrame(.continuation, [UInt8]("}"))
            server.perform { server in frames.withUnsafeBytes { server.sendRaw($0, to: id) } }
            let (events, _) = try client.collect(1)
            #expect(events == [.text([UInt8]("{\"part\":") + middle + [UInt8]("}"))])
            #expect(try server.waitFor { $0.contains(.pong(id, [UInt8]("are you there"))) ? true : nil })
            #expect(client.counters.pingsAnswered == 1)
        }

        @Test(arguments: Mode.allCases)
        func pingsBothWays(mode: Mode) throws {
            let (server, client, id) = try connected(mode)
            server.perform { server in
                [UInt8]("srv-ping").withUnsafeBytes { server.sendPing($0, to: id) }
                [UInt8]("after").withUnsafeBytes { server.sendText($0, to: id) }
            }
            // The owner's poll answers the ping on the way to the next message.
            #expect(try client.collect(1).events == [.text([UInt8]("after"))])
            #expect(client.counters.pingsAnswered == 1)
            #expect(try server.waitFor { $0.contains(.pong(id, [UInt8]("srv-ping"))) ? true : nil })
            try [UInt8]("cli-ping").withUnsafeBytes { try client.sendPing($0) }
            #expect(try client.collect(1).events == [.pong([UInt8]("cli-ping"))])
        }

        @Test(arguments: Mode.allCases)
        func serverCloseIsEchoedAndReported(mode: Mode) throws {
            let (server, client, id) = try connected(mode)
            server.perform { $0.close(id, code: 4001) }
            #expect(try client.collect(1).events == [.closed(4001, "")])
            #expect(client.state == .disconnected)
            #expect(try server.waitFor { $0.contains(.disconnected(id, 4001)) ? true : nil })
        }

        @Test func clientCloseHandshake() throws {
            let (server, client, id) = try connected(.ws)
            try client.close(code: WebSocketCloseCode.goingAway)
            #expect(client.state == .closing)
            #expect(try client.collect(1).events == [.closed(WebSocketCloseCode.goingAway, "")])
            #expect(try server.waitFor { $0.contains(.disconnected(id, WebSocketCloseCode.goingAway)) ? true : nil })
        }

        @Test(arguments: Mode.allCases)
        func oversizeMessageClosesWith1009AndIsCounted(mode: Mode) throws {
            let (server, client, id) = try connected(mode, clientOptions: WebSocketClientOptions(maximumMessageSize: 1000))
            server.perform { server in [UInt8](repeating: 0x41, count: 1001).withUnsafeBytes { server.sendText($0, to: id) } }
            #expect(client.pollUntilFailure() == .oversize(limit: 1000))
            #expect(client.counters.oversize == 1 && client.state == .disconnected)
            #expect(try server.waitFor { $0.contains(.disconnected(id, WebSocketCloseCode.messageTooBig)) ? true : nil })
            // Reconnecting works and counts.
            try client.connect()
            #expect(client.counters.connects == 2)
        }

        @Test(arguments: [
            ([UInt8]([0x83, 0x00]), WebSocketProtocolError.unknownOpcode(3)),
            ([0xC1, 0x00], .reservedBitsSet),
            ([0x81, 0x81, 1, 2, 3, 4, 0x55], .maskedFrameFromServer),
            ([0x89, 126, 0, 200] + [UInt8](repeating: 0, count: 200), .controlFrameTooLong(200)),
            ([0x09, 0x00], .fragmentedControlFrame),
            ([0x88, 0x01, 0x03], .invalidClosePayload),
            ([0x80, 0x00], .continuationWithoutMessage),
        ])
        func malformedServerFramesAreTypedProtocolErrors(raw: [UInt8], expected: WebSocketProtocolError) throws {
            let (server, client, id) = try connected(.ws)
            server.perform { server in raw.withUnsafeBytes { server.sendRaw($0, to: id) } }
            #expect(client.pollUntilFailure() == .protocolError(expected))
            #expect(client.counters.protocolErrors == 1)
            #expect(try server.waitFor { $0.contains(.disconnected(id, WebSocketCloseCode.protocolError)) ? true : nil })
        }

        @Test func droppedConnectionIsReportedAndReconnectable() throws {
            let (server, client, id) = try connected(.ws)
            server.perform { $0.drop(id) }
            #expect(client.pollUntilFailure() == .connectionClosed)
            try client.connect()
            server.perform { server in [UInt8]("again").withUnsafeBytes { server.broadcastText($0) } }
            #expect(try client.collect(1).events == [.text([UInt8]("again"))])
        }

        @Test func serverInsistingOnPermessageDeflateFailsClearly() throws {
            let server = try ServerHarness { $0.upgradeResponseHeaders = [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")] }
            let client = try WebSocketClient(url: "ws://127.0.0.1:\(server.port)/")
            #expect(throws: TransportError.extensionNotSupported("permessage-deflate; client_max_window_bits")) { try client.connect() }
            #expect(TransportError.extensionNotSupported("permessage-deflate").description.contains("permessage-deflate is not supported"))
            #expect(client.state == .disconnected)
        }
    }
}

extension LoopbackTests {
    @Suite struct ServerEvents {
        @Test func eachClientIsReportedOnceAndHTTPClientsNever() throws {
            let server = try ServerHarness { $0.httpHandler = { _ in HTTPResponse(status: 200, body: [UInt8]("{}")) } }
            #expect(try RestClient().get("http://127.0.0.1:\(server.port)/api/v3/depth?symbol=X") == .ok(status: 200, body: [UInt8]("{}")))
            let first = try WebSocketClient(url: "ws://127.0.0.1:\(server.port)/a")
            let second = try WebSocketClient(url: "ws://127.0.0.1:\(server.port)/b")
            try first.connect()
            try second.connect()
            try first.close()
            #expect(try first.collect(1).events == [.closed(WebSocketCloseCode.normal, "")])
            second.disconnect()
            _ = try server.waitFor { $0.count >= 4 ? true : nil }
            usleep(50_000)  // room for a wrong extra event to show up
            // IDs count every accepted connection: the HTTP GET took 1.
            #expect(server.events == [.connected(2, "/a"), .connected(3, "/b"), .disconnected(2, WebSocketCloseCode.normal), .disconnected(3, nil)])
        }
    }
}

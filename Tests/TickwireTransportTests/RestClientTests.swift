import Testing
import TickwireTransport

extension LoopbackTests {
    @Suite struct Rest {
        static let depth = [UInt8](#"{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}"#)

        func server(tls: TLSContext? = nil) throws -> ServerHarness {
            try ServerHarness(tls: tls) { server in
                server.httpHandler = { target in
                    switch target {
                    case "/api/v3/depth?symbol=ETHUSDT&limit=5000", "/fapi/v1/depth?symbol=BTCUSDT&limit=1000":
                        return HTTPResponse(status: 200, body: Rest.depth)
                    case "/chunked":
                        return HTTPResponse(status: 200, body: [UInt8]("4\r\n{\"a\"\r\nA;ext=1\r\n:123456789\r\n1\r\n}\r\n0\r\nX-Trailer: 1\r\n\r\n"),
                                            headers: [("Transfer-Encoding", "chunked")])
                    case "/busy": return HTTPResponse(status: 429, body: [UInt8]("{}"), headers: [("Retry-After", "7")])
                    case "/banned": return HTTPResponse(status: 418, body: [UInt8]("{}"))
                    default: return HTTPResponse(status: 400, body: [UInt8](#"{"code":-1100}"#))
                    }
                }
            }
        }

        @Test func depthSnapshotOverHTTPAndHTTPSFromTheWebSocketPort() throws {
            let plain = try server()
            #expect(try RestClient().get("http://127.0.0.1:\(plain.port)/api/v3/depth?symbol=ETHUSDT&limit=5000") == .ok(status: 200, body: Rest.depth))
            let identity = try GeneratedIdentity()
            let secure = try server(tls: identity.context)
            let client = RestClient(extraCAFile: identity.caFile)
            #expect(try client.get("https://localhost:\(secure.port)/fapi/v1/depth?symbol=BTCUSDT&limit=1000") == .ok(status: 200, body: Rest.depth))
            #expect(try client.get("https://localhost:\(secure.port)/chunked") == .ok(status: 200, body: [UInt8]("{\"a\":123456789}")))
            #expect(throws: TransportError.self) { try RestClient().get("https://localhost:\(secure.port)/fapi/v1/depth") }
        }

        @Test func rateLimitsAndErrorsAreTypedResults() throws {
            let plain = try server()
            let client = RestClient()
            #expect(try client.get("http://127.0.0.1:\(plain.port)/busy") == .rateLimited(status: 429, retryAfter: .seconds(7)))
            #expect(try client.get("http://127.0.0.1:\(plain.port)/banned") == .rateLimited(status: 418, retryAfter: nil))
            #expect(try client.get("http://127.0.0.1:\(plain.port)/x") == .failed(status: 400, body: [UInt8](#"{"code":-1100}"#)))
        }

        @Test func unansweredRequestTimesOut() throws {
            // A WebSocket server with no handler answers 404 at once; a listener that never reads times out.
            let silent = try WebSocketServer()  // never polled: accepts in the backlog, never answers
            let client = RestClient(timeout: .milliseconds(300))
            #expect(throws: TransportError.timedOut("HTTP response")) { try client.get("http://127.0.0.1:\(silent.port)/") }
        }
    }
}

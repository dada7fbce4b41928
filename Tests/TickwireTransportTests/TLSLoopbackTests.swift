import Testing
import TickwireTransport

extension LoopbackTests {
    @Suite struct TLSVerification {
        func handshakeError(url: String, extraCAFile: String?) throws -> String? {
            let client = try WebSocketClient(url: url, options: WebSocketClientOptions(extraCAFile: extraCAFile, connectTimeout: .seconds(5)))
            do throws(TransportError) {
                try client.connect()
                return nil
            } catch {
                guard case .tls(let message) = error else { return "unexpected: \(error)" }
                return message
            }
        }

        @Test func generatedCAIsTrustedOnlyWhenGiven() throws {
            let identity = try GeneratedIdentity()
            let server = try ServerHarness(tls: identity.context)
            // Both SAN entries verify with the CA file.
            #expect(try handshakeError(url: "wss://localhost:\(server.port)/", extraCAFile: identity.caFile) == nil)
            #expect(try handshakeError(url: "wss://127.0.0.1:\(server.port)/", extraCAFile: identity.caFile) == nil)
            // Without it the system store does not know the simulator's CA.
            let untrusted = try #require(try handshakeError(url: "wss://localhost:\(server.port)/", extraCAFile: nil))
            #expect(untrusted.contains("certificate verify failed"), "\(untrusted)")
            #expect(untrusted.contains("self-signed certificate in certificate chain") || untrusted.contains("unable to get local issuer"), "\(untrusted)")
        }

        @Test func hostNameMismatchFails() throws {
            let identity = try GeneratedIdentity()
            // Listen on every IPv4 address so 127.0.0.2 (loopback, but not in the certificate) reaches it.
            let server = try ServerHarness(tls: identity.context, host: "0.0.0.0")
            let mismatch = try #require(try handshakeError(url: "wss://127.0.0.2:\(server.port)/", extraCAFile: identity.caFile))
            #expect(mismatch.contains("certificate verify failed") && mismatch.contains("mismatch"), "\(mismatch)")
        }

        @Test func missingCAFileIsATLSErrorAtSetUp() {
            #expect {
                try TLSContext.client(extraCAFile: "/nonexistent/ca.pem")
            } throws: { error in
                guard case TransportError.tls(let message) = error else { return false }
                return message.contains("/nonexistent/ca.pem")
            }
        }
    }
}

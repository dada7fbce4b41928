import CTickwire

/// OpenSSL configuration shared by every connection of one venue or server (an SSL_CTX).
/// Client contexts always verify the peer: the system CA store plus an optional extra CA file.
public final class TLSContext: @unchecked Sendable {  // SSL_CTX is safe to share once built
    let handle: OpaquePointer

    private init(_ build: (UnsafeMutablePointer<CChar>, Int) -> OpaquePointer?) throws(TransportError) {
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = error.withUnsafeMutableBufferPointer({ build($0.baseAddress!, $0.count) }) else {
            throw .tls(String(nulTerminated: error))
        }
        self.handle = handle
    }

    deinit { ctw_tls_context_free(handle) }

    /// A client context: certificate and host-name verification on, always.
    /// `extraCAFile` (PEM) is trusted in addition to the system store, e.g. the simulator's CA.
    public static func client(extraCAFile: String? = nil) throws(TransportError) -> TLSContext {
        try TLSContext { error, capacity in ctw_tls_client_context_new(extraCAFile, error, capacity) }
    }

    /// A server context from PEM files.
    public static func server(certificateChainFile: String, privateKeyFile: String) throws(TransportError) -> TLSContext {
        try TLSContext { error, capacity in
            ctw_tls_server_context_new(certificateChainFile, privateKeyFile, error, capacity)
        }
    }

    /// A server context with an identity generated now: a self-signed CA (written as PEM to
    /// `caCertificatePath`, for clients' `extraCAFile`) signing a certificate for
    /// DNS:localhost and IP:127.0.0.1.
    public static func serverWithGeneratedIdentity(writingCACertificateTo caCertificatePath: String) throws(TransportError) -> TLSContext {
        try TLSContext { error, capacity in
            ctw_tls_server_context_new_generated(caCertificatePath, error, capacity)
        }
    }
}

/// One TLS session over a non-blocking socket; its progress is driven by the owner's loop.
final class TLSSession {
    enum Progress { case done, wantRead, wantWrite }

    private let handle: OpaquePointer
    private let context: TLSContext  // keeps the SSL_CTX alive as long as the session

    /// `hostName` non-nil: a client that sends SNI and verifies the certificate names it.
    init(context: TLSContext, descriptor: Int32, hostName: String?) throws(TransportError) {
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = error.withUnsafeMutableBufferPointer({ ctw_tls_new(context.handle, descriptor, hostName, $0.baseAddress!, $0.count) }) else {
            throw .tls(String(nulTerminated: error))
        }
        self.handle = handle
        self.context = context
    }

    deinit { ctw_tls_free(handle) }

    func handshake() throws(TransportError) -> Progress {
        let result = ctw_tls_handshake(handle)
        if result == 1 { return .done }
        return try progress(Int(result))
    }

    /// Bytes read (0 = peer closed) with the RX stamp of the socket read that delivered them;
    /// nil when the socket has nothing more for now.
    @inline(__always)
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> (count: Int, stamp: ctw_rx_timestamp)? {
        var stamp = ctw_rx_timestamp()
        let result = ctw_tls_read(handle, buffer.baseAddress, buffer.count, &stamp)
        if _fastPath(result >= 0) { return (result, stamp) }
        _ = try progress(result)
        return nil
    }

    /// Bytes written; 0 when the socket cannot take more now.
    @inline(__always)
    func write(_ bytes: UnsafeRawBufferPointer) throws(TransportError) -> Int {
        let result = ctw_tls_write(handle, bytes.baseAddress, bytes.count)
        if _fastPath(result >= 0) { return result }
        _ = try progress(result)
        return 0
    }

    func shutdown() { ctw_tls_shutdown(handle) }

    private func progress(_ status: Int) throws(TransportError) -> Progress {
        switch Int32(status) {
        case CTW_TLS_WANT_READ.rawValue: return .wantRead
        case CTW_TLS_WANT_WRITE.rawValue: return .wantWrite
        default: throw .tls(String(cString: ctw_tls_error_message(handle)))
        }
    }
}

extension String {
    /// The text of a C buffer filled up to a NUL.
    init(nulTerminated characters: [CChar]) {
        self.init(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

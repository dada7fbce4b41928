// CTickwireTLS: a thin shim over the system OpenSSL (libssl/libcrypto 3) for the WebSocket
// and HTTP transports. Swift sees only opaque handles: OpenSSL's headers stay in tls.c.
//
// Sockets are non-blocking and owned by the caller. Reads and writes go through a custom
// socket BIO so every TLS read keeps the kernel SO_TIMESTAMPING stamp of the bytes it pulled.
#ifndef CTICKWIRE_TLS_H
#define CTICKWIRE_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "CTickwire.h"

typedef struct ctw_tls_context ctw_tls_context;
typedef struct ctw_tls ctw_tls;

/// Negative results of the TLS calls (non-negative results are byte counts / success).
typedef enum {
    CTW_TLS_FAILED = -1,      ///< fatal: ctw_tls_error_message() says why
    CTW_TLS_WANT_READ = -2,   ///< retry when the socket is readable
    CTW_TLS_WANT_WRITE = -3,  ///< retry when the socket is writable
} ctw_tls_status;

// ---- contexts (one per venue / server; error text goes to `error`) -------------------
/// Client: verify the peer (SSL_VERIFY_PEER) against the system CA store plus, when non-NULL,
/// the PEM file `extra_ca_file`. There is deliberately no way to turn verification off.
ctw_tls_context *ctw_tls_client_context_new(const char *extra_ca_file, char *error, size_t error_capacity);
/// Server from PEM files: certificate chain and private key.
ctw_tls_context *ctw_tls_server_context_new(const char *certificate_chain_file, const char *private_key_file,
                                            char *error, size_t error_capacity);
/// Server with a freshly generated identity: a self-signed EC P-256 CA and a server certificate
/// it signs for DNS:localhost and IP:127.0.0.1. The CA certificate (PEM) is written to
/// `ca_certificate_path` so clients can pass it as their extra CA file.
ctw_tls_context *ctw_tls_server_context_new_generated(const char *ca_certificate_path,
                                                      char *error, size_t error_capacity);
void ctw_tls_context_free(ctw_tls_context *context);

// ---- sessions -------------------------------------------------------------------------
/// A TLS session on connected socket `fd`. `host_name` non-NULL makes it a client that sends
/// SNI (for names, not IP literals) and verifies the certificate matches the name or IP;
/// NULL makes it a server.
ctw_tls *ctw_tls_new(ctw_tls_context *context, int fd, const char *host_name, char *error, size_t error_capacity);
void ctw_tls_free(ctw_tls *tls);
/// 1 when the handshake is complete, else a ctw_tls_status.
int ctw_tls_handshake(ctw_tls *tls);
/// Bytes read (> 0), 0 when the peer closed, or a ctw_tls_status. `stamp` receives the RX
/// timestamp of the latest socket read, i.e. of the read that delivered these bytes.
long ctw_tls_read(ctw_tls *tls, void *buffer, size_t length, ctw_rx_timestamp *stamp);
/// Bytes written (> 0, possibly fewer than `length`) or a ctw_tls_status.
long ctw_tls_write(ctw_tls *tls, const void *buffer, size_t length);
/// Best-effort close_notify; never blocks.
void ctw_tls_shutdown(ctw_tls *tls);
/// Why the last call failed: OpenSSL's error queue (ERR_error_string_n), the certificate
/// verification result, or the socket errno.
const char *ctw_tls_error_message(const ctw_tls *tls);

// ---- crypto helpers for the WebSocket handshake ---------------------------------------
/// Cryptographically strong random bytes (RAND_bytes). Returns 1 on success.
int ctw_random_bytes(void *buffer, size_t length);
/// Base64 of `length` bytes into `out` (capacity >= 4 * ceil(length / 3) + 1, NUL-terminated).
/// Returns the encoded length.
size_t ctw_base64_encode(const void *bytes, size_t length, char *out);
/// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key || RFC 6455 GUID)),
/// 28 characters plus NUL into `out` (capacity >= 29). Returns 1 on success.
int ctw_websocket_accept(const char *key, size_t key_length, char *out);

#endif

// TLS through the system OpenSSL 3. See CTickwireTLS.h for the contract.
#define _GNU_SOURCE
#include "CTickwireTLS.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct ctw_tls_context {
    SSL_CTX *ctx;
};

struct ctw_tls {
    SSL *ssl;
    int fd;
    ctw_rx_timestamp last_stamp;  // of the latest socket read (socket BIO)
    char error[512];
};

// ---- error text ------------------------------------------------------------------------

/// Writes "<what>: <every queued OpenSSL error>" into `out`, draining the queue.
static void format_openssl_error(char *out, size_t capacity, const char *what) {
    if (out == NULL || capacity == 0) return;
    size_t used = (size_t)snprintf(out, capacity, "%s", what);
    unsigned long code;
    const char *separator = ": ";
    while ((code = ERR_get_error()) != 0 && used + 2 < capacity) {
        used += (size_t)snprintf(out + used, capacity - used, "%s", separator);
        if (used >= capacity) break;
        ERR_error_string_n(code, out + used, capacity - used);
        used += strlen(out + used);
        separator = "; ";
    }
    if (used >= capacity) out[capacity - 1] = '\0';
}

// ---- the socket BIO: recvmsg with SO_TIMESTAMPING, send without SIGPIPE ------------------

static int socket_bio_read(BIO *bio, char *buffer, size_t length, size_t *read_bytes) {
    ctw_tls *tls = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ctw_rx_timestamp stamp;
    ssize_t n;
    do {
        n = ctw_recv_timestamped(tls->fd, buffer, length, 0, NULL, NULL, &stamp);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        tls->last_stamp = stamp;
        *read_bytes = (size_t)n;
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_read(bio);
    *read_bytes = 0;
    return 0;  // n == 0: EOF; otherwise errno is left for SSL_ERROR_SYSCALL
}

static int socket_bio_write(BIO *bio, const char *buffer, size_t length, size_t *written) {
    ctw_tls *tls = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ssize_t n;
    do {
        n = send(tls->fd, buffer, length, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        *written = (size_t)n;
        return 1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
    *written = 0;
    return 0;
}

static long socket_bio_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)bio; (void)number; (void)pointer;
    return command == BIO_CTRL_FLUSH ? 1 : 0;  // unbuffered: nothing to flush, nothing else supported
}

static BIO_METHOD *socket_bio_method;
static pthread_once_t socket_bio_once = PTHREAD_ONCE_INIT;

static void socket_bio_method_init(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tickwire socket");
    if (method == NULL) return;
    BIO_meth_set_read_ex(method, socket_bio_read);
    BIO_meth_set_write_ex(method, socket_bio_write);
    BIO_meth_set_ctrl(method, socket_bio_ctrl);
    socket_bio_method = method;
}

// ---- contexts --------------------------------------------------------------------------

static SSL_CTX *new_ssl_ctx(const SSL_METHOD *method) {
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (ctx == NULL) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // A peer that drops TCP without close_notify is a closed connection, not a TLS error.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Non-blocking writers retry with whatever is still queued, possibly from a moved buffer.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // Pull whole socket buffers per read: fewer recvmsg calls under load.
    SSL_CTX_set_read_ahead(ctx, 1);
    return ctx;
}

static ctw_tls_context *wrap_context(SSL_CTX *ctx) {
    ctw_tls_context *context = calloc(1, sizeof(*context));
    if (context == NULL) { SSL_CTX_free(ctx); return NULL; }
    context->ctx = ctx;
    return context;
}

ctw_tls_context *ctw_tls_client_context_new(const char *extra_ca_file, char *error, size_t error_capacity) {
    ERR_clear_error();
    SSL_CTX *ctx = new_ssl_ctx(TLS_client_method());
    if (ctx == NULL) { format_openssl_error(error, error_capacity, "SSL_CTX_new"); return NULL; }
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        format_openssl_error(error, error_capacity, "loading the system CA store");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (extra_ca_file != NULL && SSL_CTX_load_verify_locations(ctx, extra_ca_file, NULL) != 1) {
        char what[320];
        snprintf(what, sizeof(what), "loading CA file %s", extra_ca_file);
        format_openssl_error(error, error_capacity, what);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return wrap_context(ctx);
}

static ctw_tls_context *server_context_with(X509 *certificate, EVP_PKEY *key, char *error, size_t error_capacity) {
    SSL_CTX *ctx = new_ssl_ctx(TLS_server_method());
    if (ctx == NULL) { format_openssl_error(error, error_capacity, "SSL_CTX_new"); return NULL; }
    if (SSL_CTX_use_certificate(ctx, certificate) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
        format_openssl_error(error, error_capacity, "installing the server certificate");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return wrap_context(ctx);
}

ctw_tls_context *ctw_tls_server_context_new(const char *certificate_chain_file, const char *private_key_file,
                                            char *error, size_t error_capacity) {
    ERR_clear_error();
    SSL_CTX *ctx = new_ssl_ctx(TLS_server_method());
    if (ctx == NULL) { format_openssl_error(error, error_capacity, "SSL_CTX_new"); return NULL; }
    if (SSL_CTX_use_certificate_chain_file(ctx, certificate_chain_file) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, private_key_file, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
        format_openssl_error(error, error_capacity, "loading the server certificate and key");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return wrap_context(ctx);
}

void ctw_tls_context_free(ctw_tls_context *context) {
    if (context == NULL) return;
    SSL_CTX_free(context->ctx);
    free(context);
}

// ---- generated identity (CA + localhost server certificate) ----------------------------

static int add_extension(X509 *certificate, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, certificate, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (extension == NULL) return 0;
    int ok = X509_add_ext(certificate, extension, -1);
    X509_EXTENSION_free(extension);
    return ok;
}

/// A v3 certificate for `key` named CN=`common_name`, signed by `issuer_key`
/// (`issuer` NULL: self-signed). Valid from an hour ago for 30 days.
static X509 *new_certificate(EVP_PKEY *key, const char *common_name, X509 *issuer, EVP_PKEY *issuer_key,
                             const char *const *extensions, const int *nids, int extension_count) {
    X509 *certificate = X509_new();
    if (certificate == NULL) return NULL;
    unsigned char serial[16];
    BIGNUM *serial_number = NULL;
    int ok = X509_set_version(certificate, X509_VERSION_3)
        && RAND_bytes(serial, sizeof(serial)) == 1
        && (serial[0] &= 0x7f, (serial_number = BN_bin2bn(serial, sizeof(serial), NULL)) != NULL)
        && BN_to_ASN1_INTEGER(serial_number, X509_get_serialNumber(certificate)) != NULL
        && X509_gmtime_adj(X509_getm_notBefore(certificate), -3600) != NULL
        && X509_gmtime_adj(X509_getm_notAfter(certificate), 30L * 24 * 3600) != NULL
        && X509_set_pubkey(certificate, key)
        && X509_NAME_add_entry_by_txt(X509_get_subject_name(certificate), "CN", MBSTRING_ASC,
                                      (const unsigned char *)common_name, -1, -1, 0)
        && X509_set_issuer_name(certificate, X509_get_subject_name(issuer ? issuer : certificate));
    BN_free(serial_number);
    X509 *extension_issuer = issuer ? issuer : certificate;
    for (int i = 0; ok && i < extension_count; i++) {
        ok = add_extension(certificate, extension_issuer, nids[i], extensions[i]);
    }
    ok = ok && X509_sign(certificate, issuer_key, EVP_sha256()) > 0;
    if (!ok) { X509_free(certificate); return NULL; }
    return certificate;
}

ctw_tls_context *ctw_tls_server_context_new_generated(const char *ca_certificate_path,
                                                      char *error, size_t error_capacity) {
    ERR_clear_error();
    ctw_tls_context *context = NULL;
    X509 *ca = NULL, *server = NULL;
    EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *server_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (ca_key == NULL || server_key == NULL) {
        format_openssl_error(error, error_capacity, "generating EC P-256 keys");
        goto done;
    }
    static const int ca_nids[] = { NID_basic_constraints, NID_key_usage, NID_subject_key_identifier };
    static const char *const ca_values[] = { "critical,CA:TRUE", "critical,keyCertSign,cRLSign", "hash" };
    ca = new_certificate(ca_key, "Tickwire Simulator CA", NULL, ca_key, ca_values, ca_nids, 3);
    if (ca == NULL) { format_openssl_error(error, error_capacity, "creating the CA certificate"); goto done; }

    static const int server_nids[] = { NID_basic_constraints, NID_key_usage, NID_ext_key_usage,
                                       NID_subject_alt_name, NID_subject_key_identifier,
                                       NID_authority_key_identifier };
    static const char *const server_values[] = { "critical,CA:FALSE", "critical,digitalSignature",
                                                 "serverAuth", "DNS:localhost,IP:127.0.0.1", "hash",
                                                 "keyid:always" };
    server = new_certificate(server_key, "localhost", ca, ca_key, server_values, server_nids, 6);
    if (server == NULL) { format_openssl_error(error, error_capacity, "creating the server certificate"); goto done; }

    FILE *file = fopen(ca_certificate_path, "w");
    if (file == NULL) {
        snprintf(error, error_capacity, "writing %s: %s", ca_certificate_path, strerror(errno));
        goto done;
    }
    int written = PEM_write_X509(file, ca);
    if (fclose(file) != 0 || written != 1) {
        format_openssl_error(error, error_capacity, "writing the CA certificate");
        goto done;
    }
    context = server_context_with(server, server_key, error, error_capacity);
done:
    X509_free(ca);
    X509_free(server);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(server_key);
    return context;
}

// ---- sessions ----------------------------------------------------------------------------

static int is_ip_literal(const char *host) {
    unsigned char address[16];
    return inet_pton(AF_INET, host, address) == 1 || inet_pton(AF_INET6, host, address) == 1;
}

ctw_tls *ctw_tls_new(ctw_tls_context *context, int fd, const char *host_name, char *error, size_t error_capacity) {
    ERR_clear_error();
    pthread_once(&socket_bio_once, socket_bio_method_init);
    ctw_tls *tls = calloc(1, sizeof(*tls));
    if (tls == NULL) { snprintf(error, error_capacity, "out of memory"); return NULL; }
    tls->fd = fd;
    tls->ssl = SSL_new(context->ctx);
    BIO *bio = socket_bio_method ? BIO_new(socket_bio_method) : NULL;
    if (tls->ssl == NULL || bio == NULL) {
        format_openssl_error(error, error_capacity, "creating the TLS session");
        BIO_free(bio);
        ctw_tls_free(tls);
        return NULL;
    }
    BIO_set_data(bio, tls);
    BIO_set_init(bio, 1);
    SSL_set_bio(tls->ssl, bio, bio);  // the SSL owns the BIO now
    if (host_name == NULL) {
        SSL_set_accept_state(tls->ssl);
        return tls;
    }
    SSL_set_connect_state(tls->ssl);
    X509_VERIFY_PARAM *param = SSL_get0_param(tls->ssl);
    int ok;
    if (is_ip_literal(host_name)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, host_name);  // RFC 6066: no IP literals in SNI
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(param, host_name, 0) && SSL_set_tlsext_host_name(tls->ssl, host_name);
    }
    if (!ok) {
        format_openssl_error(error, error_capacity, "setting the verified host name");
        ctw_tls_free(tls);
        return NULL;
    }
    return tls;
}

void ctw_tls_free(ctw_tls *tls) {
    if (tls == NULL) return;
    SSL_free(tls->ssl);
    free(tls);
}

/// Maps an SSL_* result to a ctw_tls_status, filling tls->error on failure.
static int classify(ctw_tls *tls, int result, const char *what) {
    int reason = SSL_get_error(tls->ssl, result);
    switch (reason) {
    case SSL_ERROR_WANT_READ: return CTW_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return CTW_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            int err = errno;
            snprintf(tls->error, sizeof(tls->error), "%s: %s", what,
                     err ? strerror(err) : "connection closed by peer");
            ERR_clear_error();
            return CTW_TLS_FAILED;
        }
        break;
    default:
        break;
    }
    format_openssl_error(tls->error, sizeof(tls->error), what);
    long verify = SSL_get_verify_result(tls->ssl);
    if (verify != X509_V_OK) {
        size_t used = strlen(tls->error);
        snprintf(tls->error + used, sizeof(tls->error) - used, " (certificate: %s)",
                 X509_verify_cert_error_string(verify));
    }
    return CTW_TLS_FAILED;
}

int ctw_tls_handshake(ctw_tls *tls) {
    ERR_clear_error();
    int result = SSL_do_handshake(tls->ssl);
    if (result == 1) return 1;
    int status = classify(tls, result, "TLS handshake failed");
    if (status == 0) {  // clean close during the handshake is still a failed handshake
        snprintf(tls->error, sizeof(tls->error), "TLS handshake failed: connection closed by peer");
        return CTW_TLS_FAILED;
    }
    return status;
}

long ctw_tls_read(ctw_tls *tls, void *buffer, size_t length, ctw_rx_timestamp *stamp) {
    ERR_clear_error();
    size_t read_bytes = 0;
    int result = SSL_read_ex(tls->ssl, buffer, length, &read_bytes);
    if (result == 1) {
        *stamp = tls->last_stamp;
        return (long)read_bytes;
    }
    return classify(tls, result, "TLS read failed");
}

long ctw_tls_write(ctw_tls *tls, const void *buffer, size_t length) {
    ERR_clear_error();
    size_t written = 0;
    int result = SSL_write_ex(tls->ssl, buffer, length, &written);
    if (result == 1) return (long)written;
    int status = classify(tls, result, "TLS write failed");
    if (status == 0) {
        snprintf(tls->error, sizeof(tls->error), "TLS write failed: connection closed by peer");
        return CTW_TLS_FAILED;
    }
    return status;
}

void ctw_tls_shutdown(ctw_tls *tls) {
    ERR_clear_error();
    SSL_shutdown(tls->ssl);
    ERR_clear_error();
}

const char *ctw_tls_error_message(const ctw_tls *tls) { return tls->error; }

// ---- crypto helpers ----------------------------------------------------------------------

int ctw_random_bytes(void *buffer, size_t length) { return RAND_bytes(buffer, (int)length); }

size_t ctw_base64_encode(const void *bytes, size_t length, char *out) {
    return (size_t)EVP_EncodeBlock((unsigned char *)out, bytes, (int)length);
}

int ctw_websocket_accept(const char *key, size_t key_length, char *out) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[20];
    unsigned int digest_length = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL
        && EVP_DigestInit_ex(md, EVP_sha1(), NULL)
        && EVP_DigestUpdate(md, key, key_length)
        && EVP_DigestUpdate(md, guid, sizeof(guid) - 1)
        && EVP_DigestFinal_ex(md, digest, &digest_length);
    EVP_MD_CTX_free(md);
    if (!ok) return 0;
    ctw_base64_encode(digest, digest_length, out);
    return 1;
}

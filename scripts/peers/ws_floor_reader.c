#define _GNU_SOURCE  // memmem
// The transport floor for scripts/bench-cryptofeed.sh: a wss:// client that only reads frames.
// TLS (OpenSSL, the CA given), the WebSocket upgrade, then a busy-polled non-blocking read loop
// that finds each Binance depth frame's final update id `"u":` and stamps it with
// CLOCK_REALTIME when the read that completed the frame returned. No JSON parsing, no book:
// what is left of the latency is the simulator, the kernel, TLS and WebSocket framing.
//
//   ws_floor_reader HOST PORT PATH CAFILE OUT
//
// OUT gets `<update_id> <recv_ns>` per depth frame; a summary line goes to stderr. Exits 0 on
// the server's close frame (or end of stream).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define BUFFER_SIZE (8u << 20)
#define MAX_SAMPLES (4u << 20)

static uint64_t realtime_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void fail(const char *what) {
    fprintf(stderr, "ws_floor_reader: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

// Reads into buf at len; spins on WANT_READ. Returns bytes read, 0 at the end of the stream.
static int read_some(SSL *ssl, unsigned char *buf, size_t room) {
    for (;;) {
        int n = SSL_read(ssl, buf, room > 1u << 30 ? 1 << 30 : (int)room);
        if (n > 0) return n;
        int error = SSL_get_error(ssl, n);
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) continue;
        if (error == SSL_ERROR_ZERO_RETURN || error == SSL_ERROR_SYSCALL) return 0;
        fail("SSL_read failed");
    }
}

static uint64_t update_id(const unsigned char *payload, size_t length) {
    static const char kind[] = "\"depthUpdate\"";
    static const char key[] = "\"u\":";
    const unsigned char *at = memmem(payload, length, kind, sizeof kind - 1);
    if (!at) return 0;
    at = memmem(at, length - (size_t)(at - payload), key, sizeof key - 1);
    if (!at) return 0;
    at += sizeof key - 1;
    uint64_t value = 0;
    while (at < payload + length && *at >= '0' && *at <= '9') value = value * 10 + (uint64_t)(*at++ - '0');
    return value;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: ws_floor_reader HOST PORT PATH CAFILE OUT\n");
        return 2;
    }
    const char *host = argv[1], *path = argv[3], *ca = argv[4];
    FILE *out = fopen(argv[5], "w");
    if (!out) fail("cannot open OUT");

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) fail("HOST must be an IPv4 address");
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) fail(strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (!context || SSL_CTX_load_verify_locations(context, ca, NULL) != 1) fail("cannot load CAFILE");
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    SSL *ssl = SSL_new(context);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) fail("TLS handshake failed");

    char request[4096];
    int request_length = snprintf(request, sizeof request,
        "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, argv[2]);
    if (SSL_write(ssl, request, request_length) != request_length) fail("cannot send the upgrade request");

    unsigned char *buffer = malloc(BUFFER_SIZE);
    uint64_t *ids = malloc(MAX_SAMPLES * sizeof *ids), *times = malloc(MAX_SAMPLES * sizeof *times);
    if (!buffer || !ids || !times) fail("out of memory");
    size_t filled = 0, start = 0;
    // The upgrade answer, up to its blank line.
    for (;;) {
        int n = read_some(ssl, buffer + filled, BUFFER_SIZE - filled);
        if (n == 0) fail("connection closed during the upgrade");
        filled += (size_t)n;
        unsigned char *end = memmem(buffer, filled, "\r\n\r\n", 4);
        if (end) {
            if (memcmp(buffer, "HTTP/1.1 101", 12) != 0) fail("the upgrade was refused");
            start = (size_t)(end + 4 - buffer);
            break;
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    size_t samples = 0;
    uint64_t frames = 0, bytes = 0, first = 0, last = 0;
    int closed = 0;
    while (!closed) {
        // Complete frames in buffer[start, filled).
        uint64_t now = realtime_ns();
        for (;;) {
            size_t available = filled - start;
            if (available < 2) break;
            const unsigned char *frame = buffer + start;
            int opcode = frame[0] & 0x0f;
            uint64_t length = frame[1] & 0x7f;
            size_t header = 2;
            if (length == 126) {
                if (available < 4) break;
                length = (uint64_t)frame[2] << 8 | frame[3];
                header = 4;
            } else if (length == 127) {
                if (available < 10) break;
                length = 0;
                for (int i = 0; i < 8; i++) length = length << 8 | frame[2 + i];
                header = 10;
            }
            if (available < header + length) break;
            frames += 1;
            bytes += length;
            if (opcode == 1) {
                uint64_t id = update_id(frame + header, length);
                if (id && samples < MAX_SAMPLES) {
                    ids[samples] = id;
                    times[samples++] = now;
                }
                if (!first) first = now;
                last = now;
            } else if (opcode == 8) {
                closed = 1;
                break;
            }
            start += header + length;
        }
        if (closed) break;
        if (start == filled) {
            start = filled = 0;
        } else if (filled > BUFFER_SIZE / 2) {
            memmove(buffer, buffer + start, filled - start);
            filled -= start;
            start = 0;
        }
        int n = read_some(ssl, buffer + filled, BUFFER_SIZE - filled);
        if (n == 0) break;
        filled += (size_t)n;
    }
    // A masked close frame answers the server's (its echo lets it finish cleanly).
    static const unsigned char close_frame[] = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8};
    SSL_write(ssl, close_frame, sizeof close_frame);
    for (size_t i = 0; i < samples; i++) fprintf(out, "%llu %llu\n", (unsigned long long)ids[i], (unsigned long long)times[i]);
    fclose(out);
    fprintf(stderr, "ws_floor_reader: %llu frames, %llu payload bytes, %zu depth frames, %.3f s from the first text frame to the last\n",
            (unsigned long long)frames, (unsigned long long)bytes, samples, (double)(last - first) / 1e9);
    return 0;
}

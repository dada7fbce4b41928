// gzip and zstd through dlopen (declared in CTickwireCompression.h). zlib's header gives the
// types; zstd's few stable entry points are declared here (libzstd1 ships no header).
#define _GNU_SOURCE
#include "CTickwireCompression.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static __thread char last_error[256];

static void fail(const char *format, const char *detail) {
    snprintf(last_error, sizeof(last_error), format, detail ? detail : "");
}

const char *ctw_compression_error(void) { return last_error; }

typedef struct { const void *src; size_t size; size_t pos; } zstd_in;
typedef struct { void *dst; size_t size; size_t pos; } zstd_out;

static struct {
    int (*deflateInit2_)(z_streamp, int, int, int, int, int, const char *, int);
    int (*deflate)(z_streamp, int);
    int (*deflateEnd)(z_streamp);
    int (*inflateInit2_)(z_streamp, int, const char *, int);
    int (*inflate)(z_streamp, int);
    int (*inflateReset)(z_streamp);
    int (*inflateEnd)(z_streamp);
    uLong (*deflateBound)(z_streamp, uLong);
    const char *(*zlibVersion)(void);
    int loaded;
} zlib;

static struct {
    size_t (*compressBound)(size_t);
    size_t (*compress)(void *, size_t, const void *, size_t, int);
    unsigned (*isError)(size_t);
    const char *(*getErrorName)(size_t);
    void *(*createDStream)(void);
    size_t (*freeDStream)(void *);
    size_t (*initDStream)(void *);
    size_t (*decompressStream)(void *, zstd_out *, zstd_in *);
    int loaded;
} zstd;

static pthread_once_t zlib_once = PTHREAD_ONCE_INIT, zstd_once = PTHREAD_ONCE_INIT;

#define LOAD(table, handle, name, symbol) \
    if (!(*(void **)&table.name = dlsym(handle, symbol))) return;

static void load_zlib(void) {
    void *handle = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!handle) return;
    LOAD(zlib, handle, deflateInit2_, "deflateInit2_")
    LOAD(zlib, handle, deflate, "deflate")
    LOAD(zlib, handle, deflateEnd, "deflateEnd")
    LOAD(zlib, handle, inflateInit2_, "inflateInit2_")
    LOAD(zlib, handle, inflate, "inflate")
    LOAD(zlib, handle, inflateReset, "inflateReset")
    LOAD(zlib, handle, inflateEnd, "inflateEnd")
    LOAD(zlib, handle, deflateBound, "deflateBound")
    LOAD(zlib, handle, zlibVersion, "zlibVersion")
    zlib.loaded = 1;
}

static void load_zstd(void) {
    void *handle = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!handle) return;
    LOAD(zstd, handle, compressBound, "ZSTD_compressBound")
    LOAD(zstd, handle, compress, "ZSTD_compress")
    LOAD(zstd, handle, isError, "ZSTD_isError")
    LOAD(zstd, handle, getErrorName, "ZSTD_getErrorName")
    LOAD(zstd, handle, createDStream, "ZSTD_createDStream")
    LOAD(zstd, handle, freeDStream, "ZSTD_freeDStream")
    LOAD(zstd, handle, initDStream, "ZSTD_initDStream")
    LOAD(zstd, handle, decompressStream, "ZSTD_decompressStream")
    zstd.loaded = 1;
}

int ctw_compression_available(ctw_compression_kind kind) {
    if (kind == CTW_COMPRESSION_GZIP) {
        pthread_once(&zlib_once, load_zlib);
        if (!zlib.loaded) { fail("gzip needs libz.so.1 (Debian package zlib1g)%s", ""); return -1; }
    } else {
        pthread_once(&zstd_once, load_zstd);
        if (!zstd.loaded) { fail("zstd needs libzstd.so.1 (Debian package libzstd1)%s", ""); return -1; }
    }
    return 0;
}

size_t ctw_compress_bound(ctw_compression_kind kind, size_t length) {
    if (ctw_compression_available(kind) != 0) return 0;
    if (kind == CTW_COMPRESSION_ZSTD) return zstd.compressBound(length);
    // deflateBound for the default window and memory level, plus the gzip header and trailer.
    return length + (length >> 12) + (length >> 14) + (length >> 25) + 13 + 18 + 64;
}

long ctw_compress_block(ctw_compression_kind kind, const void *input, size_t length, void *output, size_t capacity, int level) {
    if (ctw_compression_available(kind) != 0) return -1;
    if (kind == CTW_COMPRESSION_ZSTD) {
        size_t written = zstd.compress(output, capacity, input, length, level);
        if (zstd.isError(written)) { fail("zstd: %s", zstd.getErrorName(written)); return -1; }
        return (long)written;
    }
    z_stream stream;
    memset(&stream, 0, sizeof(stream));
    // windowBits 15 + 16: a gzip member (header and CRC trailer), not a bare zlib stream.
    if (zlib.deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlib.zlibVersion(), (int)sizeof(stream)) != Z_OK) {
        fail("gzip: deflateInit2 failed%s", "");
        return -1;
    }
    stream.next_in = (Bytef *)input;
    stream.avail_in = (uInt)length;
    stream.next_out = output;
    stream.avail_out = (uInt)capacity;
    int status = zlib.deflate(&stream, Z_FINISH);
    long written = (long)stream.total_out;
    zlib.deflateEnd(&stream);
    if (status != Z_STREAM_END) { fail("gzip: deflate did not finish (output buffer too small?)%s", ""); return -1; }
    return written;
}

/// Output room made ahead of each decompression step (the buffer doubles as it fills).
#define CTW_DECOMPRESS_STEP ((size_t)1 << 16)
/// zlib counts in 32-bit `uInt`: input and output are handed over at most this much at a time.
#define CTW_ZLIB_MAX_CHUNK ((size_t)1 << 30)

/// Grows *buffer to hold at least `needed` bytes.
static int reserve(unsigned char **buffer, size_t *capacity, size_t needed) {
    if (needed <= *capacity) return 0;
    size_t grown = *capacity ? *capacity : CTW_DECOMPRESS_STEP;
    while (grown < needed) grown *= 2;
    unsigned char *larger = realloc(*buffer, grown);
    if (!larger) { fail("out of memory decompressing%s", ""); return -1; }
    *buffer = larger;
    *capacity = grown;
    return 0;
}

int ctw_decompress_all(ctw_compression_kind kind, const void *input, size_t length,
                       unsigned char **output, size_t *output_length, int *truncated) {
    if (ctw_compression_available(kind) != 0) return -1;
    unsigned char *buffer = NULL;
    size_t capacity = 0, used = 0;
    *truncated = 0;
    if (reserve(&buffer, &capacity, length * 4 + 4096) != 0) return -1;
    if (kind == CTW_COMPRESSION_ZSTD) {
        void *stream = zstd.createDStream();
        if (!stream) { free(buffer); fail("zstd: cannot create a decompression stream%s", ""); return -1; }
        zstd.initDStream(stream);
        zstd_in in = { input, length, 0 };
        size_t hint = 1;
        while (in.pos < in.size) {
            if (reserve(&buffer, &capacity, used + CTW_DECOMPRESS_STEP) != 0) { zstd.freeDStream(stream); free(buffer); return -1; }
            zstd_out out = { buffer + used, capacity - used, 0 };
            hint = zstd.decompressStream(stream, &out, &in);
            if (zstd.isError(hint)) {
                // A frame cut short by a crash mid-write ends the readable part.
                *truncated = 1;
                break;
            }
            used += out.pos;
        }
        if (hint != 0) *truncated = 1;
        zstd.freeDStream(stream);
    } else {
        z_stream stream;
        memset(&stream, 0, sizeof(stream));
        if (zlib.inflateInit2_(&stream, 15 + 16, zlib.zlibVersion(), (int)sizeof(stream)) != Z_OK) {
            free(buffer);
            fail("gzip: inflateInit2 failed%s", "");
            return -1;
        }
        size_t fed = 0;  // input bytes handed to zlib so far
        size_t committed = 0;
        for (;;) {
            if (stream.avail_in == 0 && fed < length) {
                size_t chunk = length - fed < CTW_ZLIB_MAX_CHUNK ? length - fed : CTW_ZLIB_MAX_CHUNK;
                stream.next_in = (Bytef *)input + fed;
                stream.avail_in = (uInt)chunk;
                fed += chunk;
            }
            if (reserve(&buffer, &capacity, used + CTW_DECOMPRESS_STEP) != 0) { zlib.inflateEnd(&stream); free(buffer); return -1; }
            size_t room = capacity - used < CTW_ZLIB_MAX_CHUNK ? capacity - used : CTW_ZLIB_MAX_CHUNK;
            stream.next_out = buffer + used;
            stream.avail_out = (uInt)room;
            int status = zlib.inflate(&stream, Z_NO_FLUSH);
            used += room - stream.avail_out;
            int inputLeft = stream.avail_in > 0 || fed < length;
            if (status == Z_STREAM_END) {
                committed = used;
                if (!inputLeft) break;
                zlib.inflateReset(&stream);  // the next member
                continue;
            }
            if (status == Z_OK) continue;
            if (status == Z_BUF_ERROR && stream.avail_out > 0) {
                if (inputLeft) continue;  // the next input chunk goes in at the top
                *truncated = 1;  // input ended mid-member
                break;
            }
            if (status == Z_BUF_ERROR) continue;
            *truncated = 1;  // corrupt data: keep the members before it
            used = committed;
            break;
        }
        zlib.inflateEnd(&stream);
    }
    *output = buffer;
    *output_length = used;
    return 0;
}

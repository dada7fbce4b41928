// CTickwireCompression: gzip (zlib) and zstd for recordings, loaded with dlopen at first use
// (libz.so.1, libzstd.so.1) so the package links neither and hosts without them still run
// everything else. Implemented in compression.c.
#ifndef CTICKWIRE_COMPRESSION_H
#define CTICKWIRE_COMPRESSION_H

#include <stddef.h>

typedef enum { CTW_COMPRESSION_GZIP = 1, CTW_COMPRESSION_ZSTD = 2 } ctw_compression_kind;

/// 0 when the library for `kind` could be loaded, else -1 (ctw_compression_error says why).
int ctw_compression_available(ctw_compression_kind kind);

/// The largest output `ctw_compress_block` can produce for `length` input bytes.
size_t ctw_compress_bound(ctw_compression_kind kind, size_t length);

/// Compresses `input` as one complete gzip member or zstd frame into `output` (at least
/// ctw_compress_bound bytes): concatenated blocks are one valid stream for zcat/zstdcat.
/// Returns the bytes written, or -1.
long ctw_compress_block(ctw_compression_kind kind, const void *input, size_t length, void *output, size_t capacity, int level);

/// Decompresses a whole gzip (any number of members) or zstd (any number of frames) stream
/// from `input` into a buffer it allocates with malloc (free it with free). A truncated last
/// member or frame keeps what decoded before it and sets *truncated. Returns 0, or -1.
int ctw_decompress_all(ctw_compression_kind kind, const void *input, size_t length,
                       unsigned char **output, size_t *output_length, int *truncated);

/// The last failure's description (static storage, per thread).
const char *ctw_compression_error(void);

#endif

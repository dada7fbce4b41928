// CRC-32 (declared in CTickwireCRC32.h). The folding constants are those of Intel's "Fast CRC
// Computation for Generic Polynomials Using PCLMULQDQ" for the reflected IEEE polynomial
// 0x04C11DB7 (as in Linux's crc32-pclmul and Chromium's zlib).
#include "CTickwireCRC32.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

// crc32_tables[k][b]: the CRC of byte b followed by k zero bytes.
static uint32_t crc32_tables[8][256];
#if defined(__x86_64__)
static int crc32_use_pclmul;
#endif

__attribute__((constructor)) static void crc32_initialize(void) {
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t crc = byte;
        for (int bit = 0; bit < 8; bit++) crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        crc32_tables[0][byte] = crc;
    }
    for (uint32_t byte = 0; byte < 256; byte++) {
        for (int k = 1; k < 8; k++) {
            uint32_t previous = crc32_tables[k - 1][byte];
            crc32_tables[k][byte] = crc32_tables[0][previous & 0xFF] ^ (previous >> 8);
        }
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc32_use_pclmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

// Works on the inverted CRC (zlib's internal state).
static uint32_t crc32_slice8(uint32_t crc, const unsigned char *bytes, size_t length) {
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);  // little-endian x86/arm64
        word ^= crc;
        crc = crc32_tables[7][word & 0xFF] ^ crc32_tables[6][(word >> 8) & 0xFF] ^
              crc32_tables[5][(word >> 16) & 0xFF] ^ crc32_tables[4][(word >> 24) & 0xFF] ^
              crc32_tables[3][(word >> 32) & 0xFF] ^ crc32_tables[2][(word >> 40) & 0xFF] ^
              crc32_tables[1][(word >> 48) & 0xFF] ^ crc32_tables[0][word >> 56];
        bytes += 8;
        length -= 8;
    }
    while (length > 0) {
        crc = crc32_tables[0][(crc ^ *bytes) & 0xFF] ^ (crc >> 8);
        bytes++;
        length--;
    }
    return crc;
}

#if defined(__x86_64__)
// Folds four 128-bit lanes across 64-byte blocks, then to one lane, 16 bytes at a time, and
// Barrett-reduces to 32 bits. `length` >= 64 and a multiple of 16; works on the inverted CRC.
__attribute__((target("pclmul,sse4.1")))
static uint32_t crc32_pclmul(uint32_t crc, const unsigned char *bytes, size_t length) {
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
    const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124);
    const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
    const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);

    __m128i x1 = _mm_loadu_si128((const __m128i *)(bytes + 0x00));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(bytes + 0x10));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(bytes + 0x20));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(bytes + 0x30));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    bytes += 64;
    length -= 64;

    while (length >= 64) {
        __m128i x5 = _mm_clmulepi64_si128(x1, k1k2, 0x00);
        __m128i x6 = _mm_clmulepi64_si128(x2, k1k2, 0x00);
        __m128i x7 = _mm_clmulepi64_si128(x3, k1k2, 0x00);
        __m128i x8 = _mm_clmulepi64_si128(x4, k1k2, 0x00);
        x1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
        x2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
        x3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
        x4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), _mm_loadu_si128((const __m128i *)(bytes + 0x00)));
        x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), _mm_loadu_si128((const __m128i *)(bytes + 0x10)));
        x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), _mm_loadu_si128((const __m128i *)(bytes + 0x20)));
        x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), _mm_loadu_si128((const __m128i *)(bytes + 0x30)));
        bytes += 64;
        length -= 64;
    }

    // Four lanes into one.
    __m128i x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x2), x5);
    x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x3), x5);
    x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x4), x5);

    while (length >= 16) {
        x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
        x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, _mm_loadu_si128((const __m128i *)bytes)), x5);
        bytes += 16;
        length -= 16;
    }

    // 128 bits to 64.
    x2 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, low32);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, k5, 0x00), x2);

    // Barrett reduction to 32 bits.
    x2 = _mm_and_si128(x1, low32);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x10);
    x2 = _mm_and_si128(x2, low32);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}
#endif

uint32_t ctw_crc32_update_portable(uint32_t crc, const void *data, size_t length) {
    return ~crc32_slice8(~crc, data, length);
}

uint32_t ctw_crc32_update(uint32_t crc, const void *data, size_t length) {
    const unsigned char *bytes = data;
    crc = ~crc;
#if defined(__x86_64__)
    if (crc32_use_pclmul && length >= 64) {
        size_t folded = length & ~(size_t)15;
        crc = crc32_pclmul(crc, bytes, folded);
        bytes += folded;
        length -= folded;
    }
#endif
    return ~crc32_slice8(crc, bytes, length);
}

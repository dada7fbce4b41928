// CTickwireCRC32: CRC-32 (IEEE 802.3, reflected, zlib's crc32) for the venue book checksums
// (OKX, Kraken), which hash a few hundred bytes of text after every book update.
// Implemented in crc32.c.
#ifndef CTICKWIRE_CRC32_H
#define CTICKWIRE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/// zlib's crc32(crc, data, length): the CRC of the bytes so far (0 to start) extended by
/// `length` bytes. PCLMULQDQ folding on CPUs that have it (checked once at load), slicing by
/// 8 otherwise and for the last bytes. Allocation-free, thread-safe.
uint32_t ctw_crc32_update(uint32_t crc, const void *data, size_t length);

/// The same CRC by table lookups only (slicing by 8): the fallback, callable directly so
/// tests pin both paths on any CPU.
uint32_t ctw_crc32_update_portable(uint32_t crc, const void *data, size_t length);

#endif

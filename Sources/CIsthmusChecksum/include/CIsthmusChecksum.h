// The Internet checksum's inner loop (RFC 1071) for the ESP data plane: the one's-complement sum of a
// buffer, and the same sum fused with a copy, so that cutting and merging TCP segments reads each payload
// byte once. Written in C so that the compiler vectorises it (AVX2 where the CPU has it, SSE2 otherwise);
// IsthmusESP's InternetChecksum folds and byte-swaps the result.
#ifndef C_ISTHMUS_CHECKSUM_H
#define C_ISTHMUS_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/// The sum of `length` bytes at `data` as native-order 32-bit words added into 64 bits (no overflow below
/// 16 GiB), the last 1 to 3 bytes as native-order 16-bit words and a last odd byte as the low byte of one.
/// Congruent (mod 0xFFFF) to the one's-complement sum of the buffer's native-order 16-bit words.
uint64_t isthmus_checksum_sum(const void *data, size_t length);

/// Copies `length` bytes from `source` to `destination` (which must not overlap) and returns
/// `isthmus_checksum_sum(source, length)`.
uint64_t isthmus_checksum_copy(void *destination, const void *source, size_t length);

#endif

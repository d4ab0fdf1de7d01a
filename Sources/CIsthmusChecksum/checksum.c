#include "CIsthmusChecksum.h"

#include <string.h>

// One body, compiled twice: for AVX2 and for the x86-64 baseline (SSE2). Four independent 64-bit
// accumulators of zero-extended 32-bit loads have no carry chain, which lets the compiler vectorise.
#define ISTHMUS_SUM_BODY(COPY)                                                                  \
    const unsigned char *in = source;                                                          \
    unsigned char *out = destination;                                                          \
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                                   \
    size_t i = 0;                                                                              \
    for (; i + 16 <= length; i += 16) {                                                        \
        uint32_t w[4];                                                                         \
        memcpy(w, in + i, 16);                                                                 \
        if (COPY) memcpy(out + i, w, 16);                                                      \
        s0 += w[0];                                                                            \
        s1 += w[1];                                                                            \
        s2 += w[2];                                                                            \
        s3 += w[3];                                                                            \
    }                                                                                          \
    uint64_t sum = s0 + s1 + s2 + s3;                                                          \
    for (; i + 4 <= length; i += 4) {                                                          \
        uint32_t w;                                                                            \
        memcpy(&w, in + i, 4);                                                                 \
        if (COPY) memcpy(out + i, &w, 4);                                                      \
        sum += w;                                                                              \
    }                                                                                          \
    if (i + 2 <= length) {                                                                     \
        uint16_t w;                                                                            \
        memcpy(&w, in + i, 2);                                                                 \
        if (COPY) memcpy(out + i, &w, 2);                                                      \
        sum += w;                                                                              \
        i += 2;                                                                                \
    }                                                                                          \
    if (i < length) {                                                                          \
        /* A last odd byte is the high byte of a big-endian word: on a little-endian CPU, the */ \
        /* low byte of a native 16-bit word. */                                                \
        unsigned char b = in[i];                                                               \
        if (COPY) out[i] = b;                                                                  \
        uint16_t w = 0;                                                                        \
        memcpy(&w, &b, 1);                                                                     \
        sum += w;                                                                              \
    }                                                                                          \
    return sum;

#if defined(__x86_64__) && defined(__clang__)
__attribute__((target("avx2"))) static uint64_t sum_avx2(const void *source, size_t length) {
    void *destination = 0;
    ISTHMUS_SUM_BODY(0)
}

__attribute__((target("avx2"))) static uint64_t copy_avx2(void *destination, const void *source, size_t length) {
    ISTHMUS_SUM_BODY(1)
}
#endif

static uint64_t sum_baseline(const void *source, size_t length) {
    void *destination = 0;
    ISTHMUS_SUM_BODY(0)
}

static uint64_t copy_baseline(void *destination, const void *source, size_t length) {
    ISTHMUS_SUM_BODY(1)
}

// 0: not decided yet, 1: baseline, 2: AVX2. Deciding twice in a race is harmless.
static int isthmus_checksum_level;

static int level(void) {
    int current = __atomic_load_n(&isthmus_checksum_level, __ATOMIC_RELAXED);
    if (current == 0) {
        current = 1;
#if defined(__x86_64__) && defined(__clang__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) current = 2;
#endif
        __atomic_store_n(&isthmus_checksum_level, current, __ATOMIC_RELAXED);
    }
    return current;
}

uint64_t isthmus_checksum_sum(const void *data, size_t length) {
#if defined(__x86_64__) && defined(__clang__)
    if (level() == 2) return sum_avx2(data, length);
#else
    (void)level;
#endif
    return sum_baseline(data, length);
}

uint64_t isthmus_checksum_copy(void *destination, const void *source, size_t length) {
#if defined(__x86_64__) && defined(__clang__)
    if (level() == 2) return copy_avx2(destination, source, length);
#endif
    return copy_baseline(destination, source, length);
}

// Whether this CPU runs code built for x86-64-v4 (AVX-512 F, CD, BW, DQ and VL), which Swift cannot ask directly.
// __builtin_cpu_supports reports an AVX-512 feature only when the OS also saves the AVX-512 registers (XGETBV).
static inline int vd_cpu_runs_x86_64_v4(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

#if defined(__x86_64__)
#include <cpuid.h>
#endif

// What OpenBLAS's kernels need, as the BLAS guard (BLASCore) compares them with the core OpenBLAS chose: the vendor
// and the vector extensions this CPU and its OS run. Read from CPUID and XCR0 directly rather than through
// __builtin_cpu_supports, whose newer bits (avx512bf16) depend on which runtime library the compiler links.
typedef struct {
    int x86_64;       // 0 on other architectures, where nothing else is filled in
    int vendor;       // 1 Intel, 2 AMD or Hygon (Zen), 0 other
    int avx, fma, avx2;
    int avx512;       // F, CD, BW, DQ and VL (x86-64-v4), with the OS saving the opmask and zmm registers
    int avx512_bf16;
} vd_cpu_features;

static inline vd_cpu_features vd_cpu_read_features(void) {
    vd_cpu_features f = {0, 0, 0, 0, 0, 0, 0};
#if defined(__x86_64__)
    f.x86_64 = 1;
    unsigned int max, a, b, c, d;
    if (!__get_cpuid(0, &max, &b, &c, &d)) return f;
    // The vendor string is EBX, EDX, ECX: "GenuineIntel", "AuthenticAMD", "HygonGenuine".
    if (b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e) f.vendor = 1;
    else if ((b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163) ||
             (b == 0x6f677948 && d == 0x6e65476e && c == 0x656e6975)) f.vendor = 2;
    if (max < 1) return f;
    __cpuid(1, a, b, c, d);
    int osxsave = (c >> 27) & 1;
    unsigned long long xcr0 = 0;
    if (osxsave) {
        unsigned int lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((unsigned long long)hi << 32) | lo;
    }
    int ymm = osxsave && (xcr0 & 0x6) == 0x6;      // SSE and AVX state
    int zmm = ymm && (xcr0 & 0xe0) == 0xe0;        // opmask, upper zmm0-15, zmm16-31
    f.avx = ymm && ((c >> 28) & 1);
    f.fma = f.avx && ((c >> 12) & 1);
    if (max < 7) return f;
    unsigned int leaf7b;
    __cpuid_count(7, 0, a, leaf7b, c, d);
    unsigned int subleaves = a;
    f.avx2 = f.avx && ((leaf7b >> 5) & 1);
    unsigned int v4 = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);   // F, DQ, CD, BW, VL
    f.avx512 = zmm && f.avx2 && f.fma && (leaf7b & v4) == v4;
    if (subleaves >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        f.avx512_bf16 = f.avx512 && ((a >> 5) & 1);
    }
#endif
    return f;
}

// The processor's clock as CPUID states it, for the arithmetic peak (`ArithmeticPeak`): leaf 0x16's maximum (else
// base) frequency in MHz, 0 where the leaf is missing or empty (common under hypervisors). `brand` receives the
// 48-character brand string (leaves 0x80000002-4), which often ends in the nominal clock ("@ 2.10GHz").
static inline int vd_cpu_clock_mhz(char brand[49]) {
    brand[0] = 0;
#if defined(__x86_64__)
    unsigned int max, a, b, c, d;
    if (__get_cpuid(0x80000000, &max, &b, &c, &d) && max >= 0x80000004) {
        unsigned int *words = (unsigned int *)brand;
        for (unsigned int i = 0; i < 3; i++) __cpuid(0x80000002 + i, words[4 * i], words[4 * i + 1], words[4 * i + 2], words[4 * i + 3]);
        brand[48] = 0;
    }
    if (!__get_cpuid(0, &max, &b, &c, &d) || max < 0x16) return 0;
    __cpuid(0x16, a, b, c, d);
    return (int)((b & 0xffff) ? (b & 0xffff) : (a & 0xffff));
#else
    return 0;
#endif
}

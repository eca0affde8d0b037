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

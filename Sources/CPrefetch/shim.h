// A software prefetch into L1 (Swift has no intrinsic for it). The GEMM micro-kernels read B's rows far apart,
// each row on another page, where the hardware's stride prefetchers do not follow (docs/PERFORMANCE-LOG.md).
static inline __attribute__((always_inline)) void vd_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#include <cblas.h>
// OpenBLAS extension: threads used inside one sgemm call (we keep it at one).
void openblas_set_num_threads(int num_threads);
// OpenBLAS extensions that say which kernels run: the core's name ("Prescott", "Haswell", "SkylakeX", ...) and the
// build ("... DYNAMIC_ARCH ..." when the library carries kernels for several cores and picks one when loaded).
char *openblas_get_corename(void);
char *openblas_get_config(void);

#if defined(__linux__)
#include <dlfcn.h>
#endif

// Whether the loaded OpenBLAS was built with the kernels of a core: a DYNAMIC_ARCH build exports one table per core
// it holds, gotoblas_<NAME> (gotoblas_SKYLAKEX, gotoblas_HASWELL, ...), and leaves out the cores it was built without.
// The null handle is RTLD_DEFAULT on Linux (glibc and musl): every library loaded globally, ours among them.
static inline int vd_openblas_has_core_table(const char *symbol) {
#if defined(__linux__)
    return dlsym((void *)0, symbol) != (void *)0;
#else
    (void)symbol;
    return 0;
#endif
}

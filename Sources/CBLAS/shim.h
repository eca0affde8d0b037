#include <cblas.h>
// OpenBLAS extension: threads used inside one sgemm call.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

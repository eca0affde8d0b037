#include <cblas.h>
// OpenBLAS extension: threads used inside one sgemm call (we keep it at one).
void openblas_set_num_threads(int num_threads);

// glibc's malloc tuning (mallopt), which the Glibc module does not expose.
#include <malloc.h>
static const int vd_m_trim_threshold = M_TRIM_THRESHOLD;
static const int vd_m_mmap_threshold = M_MMAP_THRESHOLD;

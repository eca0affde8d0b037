#include <mpi.h>
// Open MPI defines its handles as macros over global objects, which Swift cannot import;
// these wrappers expose them as functions.
static inline MPI_Comm vd_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm vd_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype vd_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype vd_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype vd_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype vd_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype vd_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype vd_byte(void) { return MPI_BYTE; }
static inline MPI_Op vd_sum(void) { return MPI_SUM; }
static inline MPI_Op vd_max(void) { return MPI_MAX; }
static inline MPI_Op vd_min(void) { return MPI_MIN; }
static inline MPI_Request vd_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *vd_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline MPI_Info vd_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Errhandler vd_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline void *vd_in_place(void) { return MPI_IN_PLACE; }
static inline int vd_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int vd_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int vd_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int vd_success(void) { return MPI_SUCCESS; }

/* The part of DuckDB's stable C API (duckdb.h) the DuckDB backend uses.
 *
 * DuckDB is loaded at run time with dlopen, so retrain builds and runs
 * without it; this header stands in for duckdb.h, which no Debian package
 * ships. Every layout and enum number below must match duckdb.h exactly
 * (DuckDB keeps them stable across releases: values are only appended).
 * Functions are listed once, in DUCKDB_API_FUNCS, which yields both the
 * table of function pointers and the names dlsym resolves. */
#ifndef RETRAIN_DUCKDB_API_H
#define RETRAIN_DUCKDB_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t idx_t;

/* duckdb_type: the physical/logical type ids, numbered as in duckdb.h. */
typedef enum duckdb_type {
    DUCKDB_TYPE_INVALID = 0,
    DUCKDB_TYPE_BOOLEAN = 1,
    DUCKDB_TYPE_TINYINT = 2,
    DUCKDB_TYPE_SMALLINT = 3,
    DUCKDB_TYPE_INTEGER = 4,
    DUCKDB_TYPE_BIGINT = 5,
    DUCKDB_TYPE_UTINYINT = 6,
    DUCKDB_TYPE_USMALLINT = 7,
    DUCKDB_TYPE_UINTEGER = 8,
    DUCKDB_TYPE_UBIGINT = 9,
    DUCKDB_TYPE_FLOAT = 10,
    DUCKDB_TYPE_DOUBLE = 11,
    DUCKDB_TYPE_TIMESTAMP = 12,    /* int64 microseconds since 1970-01-01 */
    DUCKDB_TYPE_DATE = 13,         /* int32 days since 1970-01-01 */
    DUCKDB_TYPE_TIME = 14,         /* int64 microseconds since 00:00 */
    DUCKDB_TYPE_INTERVAL = 15,     /* duckdb_interval */
    DUCKDB_TYPE_HUGEINT = 16,      /* duckdb_hugeint */
    DUCKDB_TYPE_VARCHAR = 17,      /* duckdb_string_t */
    DUCKDB_TYPE_BLOB = 18,         /* duckdb_string_t */
    DUCKDB_TYPE_DECIMAL = 19,      /* int16/32/64 or hugeint, see internal type */
    DUCKDB_TYPE_TIMESTAMP_S = 20,  /* int64 seconds */
    DUCKDB_TYPE_TIMESTAMP_MS = 21, /* int64 milliseconds */
    DUCKDB_TYPE_TIMESTAMP_NS = 22, /* int64 nanoseconds */
    DUCKDB_TYPE_ENUM = 23,         /* uint8/16/32 index into the dictionary */
    DUCKDB_TYPE_LIST = 24,         /* duckdb_list_entry + child vector */
    DUCKDB_TYPE_STRUCT = 25,       /* one child vector per member */
    DUCKDB_TYPE_MAP = 26,          /* LIST of STRUCT(key, value) */
    DUCKDB_TYPE_UUID = 27,         /* duckdb_hugeint, top bit flipped */
    DUCKDB_TYPE_UNION = 28,        /* STRUCT(tag UTINYINT, members...) */
    DUCKDB_TYPE_BIT = 29,          /* duckdb_string_t: padding byte + bits */
    DUCKDB_TYPE_TIME_TZ = 30,      /* duckdb_time_tz */
    DUCKDB_TYPE_TIMESTAMP_TZ = 31, /* int64 microseconds, UTC */
    DUCKDB_TYPE_UHUGEINT = 32,     /* duckdb_uhugeint */
    DUCKDB_TYPE_ARRAY = 33,        /* fixed-size list: child vector */
    DUCKDB_TYPE_ANY = 34,
    DUCKDB_TYPE_BIGNUM = 35,       /* called VARINT before 1.5 */
    DUCKDB_TYPE_SQLNULL = 36,
    DUCKDB_TYPE_STRING_LITERAL = 37,
    DUCKDB_TYPE_INTEGER_LITERAL = 38,
    DUCKDB_TYPE_TIME_NS = 39,      /* int64 nanoseconds since 00:00 */
    DUCKDB_TYPE_GEOMETRY = 40,
    DUCKDB_TYPE_VARIANT = 41,
} duckdb_type;

typedef enum duckdb_state { DuckDBSuccess = 0, DuckDBError = 1 } duckdb_state;

typedef enum duckdb_pending_state {
    DUCKDB_PENDING_RESULT_READY = 0,
    DUCKDB_PENDING_RESULT_NOT_READY = 1,
    DUCKDB_PENDING_ERROR = 2,
    DUCKDB_PENDING_NO_TASKS_AVAILABLE = 3,
} duckdb_pending_state;

typedef enum duckdb_result_type {
    DUCKDB_RESULT_TYPE_INVALID = 0,
    DUCKDB_RESULT_TYPE_CHANGED_ROWS = 1,
    DUCKDB_RESULT_TYPE_NOTHING = 2,
    DUCKDB_RESULT_TYPE_QUERY_RESULT = 3,
} duckdb_result_type;

typedef enum duckdb_statement_type {
    DUCKDB_STATEMENT_TYPE_INVALID = 0,
    DUCKDB_STATEMENT_TYPE_SELECT = 1,
    DUCKDB_STATEMENT_TYPE_INSERT = 2,
    DUCKDB_STATEMENT_TYPE_UPDATE = 3,
    DUCKDB_STATEMENT_TYPE_EXPLAIN = 4,
    DUCKDB_STATEMENT_TYPE_DELETE = 5,
    DUCKDB_STATEMENT_TYPE_PREPARE = 6,
    DUCKDB_STATEMENT_TYPE_CREATE = 7,
    DUCKDB_STATEMENT_TYPE_EXECUTE = 8,
    DUCKDB_STATEMENT_TYPE_ALTER = 9,
    DUCKDB_STATEMENT_TYPE_TRANSACTION = 10,
    DUCKDB_STATEMENT_TYPE_COPY = 11,
    DUCKDB_STATEMENT_TYPE_ANALYZE = 12,
    DUCKDB_STATEMENT_TYPE_VARIABLE_SET = 13,
    DUCKDB_STATEMENT_TYPE_CREATE_FUNC = 14,
    DUCKDB_STATEMENT_TYPE_DROP = 15,
    DUCKDB_STATEMENT_TYPE_EXPORT = 16,
    DUCKDB_STATEMENT_TYPE_PRAGMA = 17,
    DUCKDB_STATEMENT_TYPE_VACUUM = 18,
    DUCKDB_STATEMENT_TYPE_CALL = 19,
    DUCKDB_STATEMENT_TYPE_SET = 20,
    DUCKDB_STATEMENT_TYPE_LOAD = 21, /* INSTALL and LOAD */
    DUCKDB_STATEMENT_TYPE_RELATION = 22,
    DUCKDB_STATEMENT_TYPE_EXTENSION = 23,
    DUCKDB_STATEMENT_TYPE_LOGICAL_PLAN = 24,
    DUCKDB_STATEMENT_TYPE_ATTACH = 25,
    DUCKDB_STATEMENT_TYPE_DETACH = 26,
    DUCKDB_STATEMENT_TYPE_MULTI = 27,
} duckdb_statement_type;

typedef enum duckdb_error_type {
    DUCKDB_ERROR_INVALID = 0,
    DUCKDB_ERROR_OUT_OF_RANGE = 1,
    DUCKDB_ERROR_CONVERSION = 2,
    DUCKDB_ERROR_UNKNOWN_TYPE = 3,
    DUCKDB_ERROR_DECIMAL = 4,
    DUCKDB_ERROR_MISMATCH_TYPE = 5,
    DUCKDB_ERROR_DIVIDE_BY_ZERO = 6,
    DUCKDB_ERROR_OBJECT_SIZE = 7,
    DUCKDB_ERROR_INVALID_TYPE = 8,
    DUCKDB_ERROR_SERIALIZATION = 9,
    DUCKDB_ERROR_TRANSACTION = 10,
    DUCKDB_ERROR_NOT_IMPLEMENTED = 11,
    DUCKDB_ERROR_EXPRESSION = 12,
    DUCKDB_ERROR_CATALOG = 13,
    DUCKDB_ERROR_PARSER = 14,
    DUCKDB_ERROR_PLANNER = 15,
    DUCKDB_ERROR_SCHEDULER = 16,
    DUCKDB_ERROR_EXECUTOR = 17,
    DUCKDB_ERROR_CONSTRAINT = 18,
    DUCKDB_ERROR_INDEX = 19,
    DUCKDB_ERROR_STAT = 20,
    DUCKDB_ERROR_CONNECTION = 21,
    DUCKDB_ERROR_SYNTAX = 22,
    DUCKDB_ERROR_SETTINGS = 23,
    DUCKDB_ERROR_BINDER = 24,
    DUCKDB_ERROR_NETWORK = 25,
    DUCKDB_ERROR_OPTIMIZER = 26,
    DUCKDB_ERROR_NULL_POINTER = 27,
    DUCKDB_ERROR_IO = 28,
    DUCKDB_ERROR_INTERRUPT = 29,
    DUCKDB_ERROR_FATAL = 30,
    DUCKDB_ERROR_INTERNAL = 31,
    DUCKDB_ERROR_INVALID_INPUT = 32,
    DUCKDB_ERROR_OUT_OF_MEMORY = 33,
    DUCKDB_ERROR_PERMISSION = 34,
    DUCKDB_ERROR_PARAMETER_NOT_RESOLVED = 35,
    DUCKDB_ERROR_PARAMETER_NOT_ALLOWED = 36,
    DUCKDB_ERROR_DEPENDENCY = 37,
    DUCKDB_ERROR_HTTP = 38,
    DUCKDB_ERROR_MISSING_EXTENSION = 39,
    DUCKDB_ERROR_AUTOLOAD = 40,
    DUCKDB_ERROR_SEQUENCE = 41,
    DUCKDB_ERROR_INVALID_CONFIGURATION = 42,
} duckdb_error_type;

/* ---- value layouts inside vectors ---- */

typedef struct {
    int32_t months;
    int32_t days;
    int64_t micros;
} duckdb_interval;

/* value = upper * 2^64 + lower */
typedef struct {
    uint64_t lower;
    int64_t upper;
} duckdb_hugeint;

typedef struct {
    uint64_t lower;
    uint64_t upper;
} duckdb_uhugeint;

typedef struct {
    uint8_t width;
    uint8_t scale;
    duckdb_hugeint value;
} duckdb_decimal;

/* TIME_TZ: 40 bits of microseconds and 24 bits of encoded offset; decode
 * with duckdb_from_time_tz. */
typedef struct {
    uint64_t bits;
} duckdb_time_tz;

typedef struct {
    int8_t hour;
    int8_t min;
    int8_t sec;
    int32_t micros;
} duckdb_time_struct;

typedef struct {
    duckdb_time_struct time;
    int32_t offset; /* seconds east of UTC */
} duckdb_time_tz_struct;

/* VARCHAR/BLOB: up to 12 bytes inline, else a 4-byte prefix and a pointer. */
typedef struct {
    union {
        struct {
            uint32_t length;
            char prefix[4];
            char *ptr;
        } pointer;
        struct {
            uint32_t length;
            char inlined[12];
        } inlined;
    } value;
} duckdb_string_t;

typedef struct {
    uint64_t offset;
    uint64_t length;
} duckdb_list_entry;

/* ---- handles ---- */

/* A result; passed by value to some functions, so the layout matters:
 * five deprecated fields, then the internal pointer. */
typedef struct {
    idx_t deprecated_column_count;
    idx_t deprecated_row_count;
    idx_t deprecated_rows_changed;
    void *deprecated_columns;
    char *deprecated_error_message;
    void *internal_data;
} duckdb_result;

typedef struct _duckdb_database { void *internal_ptr; } *duckdb_database;
typedef struct _duckdb_connection { void *internal_ptr; } *duckdb_connection;
typedef struct _duckdb_prepared_statement { void *internal_ptr; } *duckdb_prepared_statement;
typedef struct _duckdb_extracted_statements { void *internal_ptr; } *duckdb_extracted_statements;
typedef struct _duckdb_pending_result { void *internal_ptr; } *duckdb_pending_result;
typedef struct _duckdb_config { void *internal_ptr; } *duckdb_config;
typedef struct _duckdb_logical_type { void *internal_ptr; } *duckdb_logical_type;
typedef struct _duckdb_data_chunk { void *internal_ptr; } *duckdb_data_chunk;
typedef struct _duckdb_vector { void *internal_ptr; } *duckdb_vector;

/* ---- functions: X(return type, name, (parameters)) ---- */
#define DUCKDB_API_FUNCS(X)                                                                       \
    X(const char *, duckdb_library_version, (void))                                               \
    X(void, duckdb_free, (void *ptr))                                                             \
    X(duckdb_state, duckdb_create_config, (duckdb_config * out_config))                           \
    X(duckdb_state, duckdb_set_config, (duckdb_config config, const char *name, const char *option)) \
    X(void, duckdb_destroy_config, (duckdb_config * config))                                      \
    X(duckdb_state, duckdb_open_ext,                                                              \
      (const char *path, duckdb_database *out_database, duckdb_config config, char **out_error))  \
    X(void, duckdb_close, (duckdb_database * database))                                           \
    X(duckdb_state, duckdb_connect, (duckdb_database database, duckdb_connection * out_connection)) \
    X(void, duckdb_disconnect, (duckdb_connection * connection))                                  \
    X(void, duckdb_interrupt, (duckdb_connection connection))                                     \
    X(duckdb_state, duckdb_prepare,                                                               \
      (duckdb_connection connection, const char *query, duckdb_prepared_statement *out))          \
    X(idx_t, duckdb_extract_statements,                                                           \
      (duckdb_connection connection, const char *query, duckdb_extracted_statements *out))       \
    X(duckdb_state, duckdb_prepare_extracted_statement,                                           \
      (duckdb_connection connection, duckdb_extracted_statements extracted, idx_t index,          \
       duckdb_prepared_statement *out))                                                           \
    X(const char *, duckdb_extract_statements_error, (duckdb_extracted_statements extracted))     \
    X(void, duckdb_destroy_extracted, (duckdb_extracted_statements * extracted))                  \
    X(const char *, duckdb_prepare_error, (duckdb_prepared_statement stmt))                       \
    X(void, duckdb_destroy_prepare, (duckdb_prepared_statement * stmt))                           \
    X(idx_t, duckdb_nparams, (duckdb_prepared_statement stmt))                                    \
    X(duckdb_statement_type, duckdb_prepared_statement_type, (duckdb_prepared_statement stmt))    \
    X(duckdb_state, duckdb_bind_boolean, (duckdb_prepared_statement stmt, idx_t idx, bool val))   \
    X(duckdb_state, duckdb_bind_int64, (duckdb_prepared_statement stmt, idx_t idx, int64_t val))  \
    X(duckdb_state, duckdb_bind_double, (duckdb_prepared_statement stmt, idx_t idx, double val))  \
    X(duckdb_state, duckdb_bind_varchar_length,                                                   \
      (duckdb_prepared_statement stmt, idx_t idx, const char *val, idx_t length))                 \
    X(duckdb_state, duckdb_bind_null, (duckdb_prepared_statement stmt, idx_t idx))                \
    X(duckdb_state, duckdb_pending_prepared_streaming,                                            \
      (duckdb_prepared_statement stmt, duckdb_pending_result * out))                              \
    X(duckdb_pending_state, duckdb_pending_execute_task, (duckdb_pending_result pending))         \
    X(const char *, duckdb_pending_error, (duckdb_pending_result pending))                        \
    X(duckdb_state, duckdb_execute_pending, (duckdb_pending_result pending, duckdb_result * out)) \
    X(void, duckdb_destroy_pending, (duckdb_pending_result * pending))                            \
    X(void, duckdb_destroy_result, (duckdb_result * result))                                      \
    X(const char *, duckdb_result_error, (duckdb_result * result))                                \
    X(duckdb_error_type, duckdb_result_error_type, (duckdb_result * result))                      \
    X(duckdb_result_type, duckdb_result_return_type, (duckdb_result result))                      \
    X(idx_t, duckdb_column_count, (duckdb_result * result))                                       \
    X(const char *, duckdb_column_name, (duckdb_result * result, idx_t col))                      \
    X(duckdb_logical_type, duckdb_column_logical_type, (duckdb_result * result, idx_t col))       \
    X(duckdb_data_chunk, duckdb_fetch_chunk, (duckdb_result result))                              \
    X(void, duckdb_destroy_data_chunk, (duckdb_data_chunk * chunk))                               \
    X(idx_t, duckdb_data_chunk_get_size, (duckdb_data_chunk chunk))                               \
    X(duckdb_vector, duckdb_data_chunk_get_vector, (duckdb_data_chunk chunk, idx_t col))          \
    X(void *, duckdb_vector_get_data, (duckdb_vector vector))                                     \
    X(uint64_t *, duckdb_vector_get_validity, (duckdb_vector vector))                             \
    X(duckdb_vector, duckdb_list_vector_get_child, (duckdb_vector vector))                        \
    X(duckdb_vector, duckdb_struct_vector_get_child, (duckdb_vector vector, idx_t index))         \
    X(duckdb_vector, duckdb_array_vector_get_child, (duckdb_vector vector))                       \
    X(duckdb_type, duckdb_get_type_id, (duckdb_logical_type type))                                \
    X(uint8_t, duckdb_decimal_width, (duckdb_logical_type type))                                  \
    X(uint8_t, duckdb_decimal_scale, (duckdb_logical_type type))                                  \
    X(duckdb_type, duckdb_decimal_internal_type, (duckdb_logical_type type))                      \
    X(duckdb_type, duckdb_enum_internal_type, (duckdb_logical_type type))                         \
    X(uint32_t, duckdb_enum_dictionary_size, (duckdb_logical_type type))                          \
    X(char *, duckdb_enum_dictionary_value, (duckdb_logical_type type, idx_t index))              \
    X(duckdb_logical_type, duckdb_list_type_child_type, (duckdb_logical_type type))               \
    X(duckdb_logical_type, duckdb_array_type_child_type, (duckdb_logical_type type))              \
    X(idx_t, duckdb_array_type_array_size, (duckdb_logical_type type))                            \
    X(duckdb_logical_type, duckdb_map_type_key_type, (duckdb_logical_type type))                  \
    X(duckdb_logical_type, duckdb_map_type_value_type, (duckdb_logical_type type))                \
    X(idx_t, duckdb_struct_type_child_count, (duckdb_logical_type type))                          \
    X(char *, duckdb_struct_type_child_name, (duckdb_logical_type type, idx_t index))             \
    X(duckdb_logical_type, duckdb_struct_type_child_type, (duckdb_logical_type type, idx_t index)) \
    X(idx_t, duckdb_union_type_member_count, (duckdb_logical_type type))                          \
    X(char *, duckdb_union_type_member_name, (duckdb_logical_type type, idx_t index))             \
    X(duckdb_logical_type, duckdb_union_type_member_type, (duckdb_logical_type type, idx_t index)) \
    X(void, duckdb_destroy_logical_type, (duckdb_logical_type * type))                            \
    X(duckdb_time_tz_struct, duckdb_from_time_tz, (duckdb_time_tz value))

#endif

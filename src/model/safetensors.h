/* model/safetensors: the safetensors file format, read through mmap.
 *
 * A file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 * "__metadata__": {..}}), then the data; offsets count from the first
 * byte after the header. Every rule is checked before a tensor is handed
 * out: header inside the file, valid UTF-8 and JSON, known dtypes, shapes
 * whose byte size equals the offset range, ranges inside the data and not
 * overlapping, no duplicate names. A bad file is one clear line of error.
 *
 * A model is one model.safetensors or several shards listed by
 * model.safetensors.index.json ({"weight_map": {"name": "file"}}): st_set.
 * Prefix st_. */
#ifndef RETRAIN_MODEL_SAFETENSORS_H
#define RETRAIN_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

typedef enum st_dtype {
    ST_F64, ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U64, ST_U32, ST_U16, ST_U8,
    ST_BOOL, ST_F8_E4M3, ST_F8_E5M2, ST_NDTYPES
} st_dtype;

#define ST_MAX_DIMS 8
/* Headers beyond this are refused (the reference implementation's limit). */
#define ST_MAX_HEADER (100u * 1024 * 1024)

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data; /* inside the file's mapping; not aligned */
    size_t nbytes;
} st_tensor;

typedef struct st_file {
    char *path;           /* for messages */
    void *map;            /* NULL when parsed from a caller's buffer */
    size_t map_size;
    st_tensor *tensors;   /* sorted by name */
    size_t n;
} st_file;

const char *st_dtype_name(st_dtype d);
size_t st_dtype_size(st_dtype d);

/* Parses a whole file image buf[0..size) (which must outlive f); `what`
 * names it in messages. 0, or -1 with e filled and f left empty. */
int st_parse(st_file *f, const uint8_t *buf, size_t size, const char *what, err_t *e);
/* mmaps path and parses it. */
int st_open(st_file *f, const char *path, err_t *e);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);

/* Converts a floating tensor (F32, F16, BF16, F64) to fp32 into out
 * [numel]; -1 with a message naming the tensor for other dtypes. */
int st_to_f32(const st_tensor *t, float *out, const char *what, err_t *e);

/* The weights of a model directory: model.safetensors, or the shards of
 * model.safetensors.index.json (each listed tensor must be in its shard). */
typedef struct st_set {
    st_file *files;
    size_t nfiles;
} st_set;
int st_set_open(st_set *s, const char *dir, err_t *e);
void st_set_close(st_set *s);
/* The tensor of that name in any file; *file (may be NULL) gets its path. */
const st_tensor *st_set_find(const st_set *s, const char *name, const char **file);

/* ---- writing ----
 * Tensors are declared first (name, dtype, shape), which fixes the header;
 * then their bytes are streamed in the same order, so a multi-GB model is
 * never copied whole. The file appears atomically at finish. */
typedef struct st_writer st_writer;
st_writer *st_writer_new(void);
void st_writer_add(st_writer *w, const char *name, st_dtype dtype, const int64_t *shape, int ndim);
/* Writes the header (with __metadata__ {"format": "pt"}) to path.tmp. */
int st_writer_begin(st_writer *w, const char *path, err_t *e);
int st_writer_data(st_writer *w, const void *p, size_t n, err_t *e);
/* Checks that exactly the declared bytes came, then renames into place.
 * Frees w either way. */
int st_writer_finish(st_writer *w, err_t *e);
/* Abandons a writer (and its temporary file). */
void st_writer_free(st_writer *w);

/* fp16 / bf16 -> fp32 (exact: every half value is a float). */
float st_f16_to_f32(uint16_t h);

#endif

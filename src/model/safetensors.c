/* model/safetensors: header parsing and validation, mmap, shard sets and
 * the conversion of floating tensors to fp32. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

static const struct {
    const char *name;
    size_t size;
} g_dtypes[ST_NDTYPES] = {
    [ST_F64] = {"F64", 8},     [ST_F32] = {"F32", 4},         [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2},   [ST_I64] = {"I64", 8},         [ST_I32] = {"I32", 4},
    [ST_I16] = {"I16", 2},     [ST_I8] = {"I8", 1},           [ST_U64] = {"U64", 8},
    [ST_U32] = {"U32", 4},     [ST_U16] = {"U16", 2},         [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1},   [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *st_dtype_name(st_dtype d)
{
    return (unsigned)d < ST_NDTYPES ? g_dtypes[d].name : "?";
}

size_t st_dtype_size(st_dtype d)
{
    return (unsigned)d < ST_NDTYPES ? g_dtypes[d].size : 0;
}

static int dtype_parse(const char *s, st_dtype *out)
{
    for (int i = 0; i < ST_NDTYPES; i++)
        if (strcmp(s, g_dtypes[i].name) == 0) {
            *out = (st_dtype)i;
            return 0;
        }
    return -1;
}

static void free_tensors(st_file *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    f->tensors = NULL;
    f->n = 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_begin(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data ? 1 : strcmp(x->name, y->name);
}

/* Reads a JSON integer in [0, max]; -1 otherwise. */
static int json_uint(const json_t *v, int64_t max, int64_t *out)
{
    if (!json_is_integer(v))
        return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > max)
        return -1;
    *out = (int64_t)x;
    return 0;
}

/* Fills t from one header entry; data offsets are checked against the
 * data size here, overlaps by the caller. */
static int parse_entry(st_tensor *t, const char *name, json_t *v, const uint8_t *data,
                       size_t data_size, const char *what, err_t *e)
{
    if (!json_is_object(v))
        return err_set(e, "%s: tensor '%s': header entry is not a JSON object", what, name);
    json_t *dt = json_object_get(v, "dtype");
    if (!dt)
        return err_set(e, "%s: tensor '%s': no dtype", what, name);
    if (!json_is_string(dt))
        return err_set(e, "%s: tensor '%s': dtype is not a string", what, name);
    if (dtype_parse(json_string_value(dt), &t->dtype) != 0)
        return err_set(e, "%s: tensor '%s': unknown dtype '%s'", what, name, json_string_value(dt));
    json_t *shape = json_object_get(v, "shape");
    if (!json_is_array(shape))
        return err_set(e, "%s: tensor '%s': shape is missing or not an array", what, name);
    if (json_array_size(shape) > ST_MAX_DIMS)
        return err_set(e, "%s: tensor '%s': %zu dimensions (at most %d)", what, name,
                       json_array_size(shape), ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    int64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        int64_t d;
        if (json_uint(json_array_get(shape, (size_t)i), INT64_MAX, &d) != 0)
            return err_set(e, "%s: tensor '%s': shape[%d] is not a non-negative integer", what,
                           name, i);
        t->shape[i] = d;
        if (d != 0 && numel > INT64_MAX / d)
            return err_set(e, "%s: tensor '%s': shape overflows", what, name);
        numel *= d;
    }
    t->numel = numel;
    size_t esize = st_dtype_size(t->dtype);
    if ((uint64_t)numel > SIZE_MAX / esize)
        return err_set(e, "%s: tensor '%s': shape overflows", what, name);
    size_t nbytes = (size_t)numel * esize;
    json_t *off = json_object_get(v, "data_offsets");
    int64_t b, en;
    if (!json_is_array(off) || json_array_size(off) != 2 ||
        json_uint(json_array_get(off, 0), INT64_MAX, &b) != 0 ||
        json_uint(json_array_get(off, 1), INT64_MAX, &en) != 0)
        return err_set(e, "%s: tensor '%s': data_offsets is not [begin, end] of non-negative integers",
                       what, name);
    if (b > en)
        return err_set(e, "%s: tensor '%s': data_offsets [%lld, %lld] end before they begin", what,
                       name, (long long)b, (long long)en);
    if ((uint64_t)en > data_size)
        return err_set(e, "%s: tensor '%s': data_offsets [%lld, %lld] run past the data (%zu bytes)",
                       what, name, (long long)b, (long long)en, data_size);
    if ((uint64_t)(en - b) != nbytes)
        return err_set(e,
                       "%s: tensor '%s': %s shape of %lld elements needs %zu bytes, data_offsets "
                       "[%lld, %lld] hold %lld",
                       what, name, st_dtype_name(t->dtype), (long long)numel, nbytes, (long long)b,
                       (long long)en, (long long)(en - b));
    t->data = data + b;
    t->nbytes = nbytes;
    return 0;
}

int st_parse(st_file *f, const uint8_t *buf, size_t size, const char *what, err_t *e)
{
    memset(f, 0, sizeof *f);
    if (size < 8)
        return err_set(e, "%s: truncated: %zu bytes, shorter than the 8-byte header length", what,
                       size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    if (hlen > size - 8)
        return err_set(e, "%s: header length %llu runs past the end of the file (%zu bytes)", what,
                       (unsigned long long)hlen, size);
    if (hlen > ST_MAX_HEADER)
        return err_set(e, "%s: header length %llu is over the %u-byte limit", what,
                       (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen < 2)
        return err_set(e, "%s: header of %llu bytes cannot hold a JSON object", what,
                       (unsigned long long)hlen);
    const char *hdr = (const char *)buf + 8;
    if (!utf8_valid(hdr, (size_t)hlen))
        return err_set(e, "%s: header is not valid UTF-8", what);
    json_error_t je;
    json_t *root = json_loadb(hdr, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return err_set(e, "%s: header is not valid JSON: %s (header byte %d)", what, je.text,
                       je.position);
    if (!json_is_object(root)) {
        json_decref(root);
        return err_set(e, "%s: header is not a JSON object", what);
    }
    const uint8_t *data = buf + 8 + hlen;
    size_t data_size = size - 8 - (size_t)hlen;
    size_t cap = json_object_size(root);
    f->tensors = xcalloc(cap ? cap : 1, sizeof *f->tensors);
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(v)) {
                rc = err_set(e, "%s: __metadata__ is not a JSON object", what);
                break;
            }
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv)) {
                    rc = err_set(e, "%s: __metadata__ value '%s' is not a string", what, mk);
                    break;
                }
            }
            if (rc)
                break;
            continue;
        }
        st_tensor *t = &f->tensors[f->n];
        if (parse_entry(t, key, v, data, data_size, what, e) != 0) {
            rc = -1;
            break;
        }
        t->name = xstrdup(key);
        f->n++;
    }
    json_decref(root);
    if (rc == 0 && f->n > 1) {
        /* Overlap: sort by start; each must begin at or after the end of
         * the one before. */
        st_tensor **by = xmalloc(f->n * sizeof *by);
        for (size_t i = 0; i < f->n; i++)
            by[i] = &f->tensors[i];
        qsort(by, f->n, sizeof *by, cmp_begin);
        for (size_t i = 1; i < f->n && rc == 0; i++)
            if (by[i]->data < by[i - 1]->data + by[i - 1]->nbytes)
                rc = err_set(e, "%s: tensors '%s' and '%s' overlap in the data", what,
                             by[i - 1]->name, by[i]->name);
        free(by);
    }
    if (rc != 0) {
        free_tensors(f);
        return -1;
    }
    qsort(f->tensors, f->n, sizeof *f->tensors, cmp_name);
    return 0;
}

int st_open(st_file *f, const char *path, err_t *e)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err_set(e, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = NULL;
    if (size >= 8) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            err_set(e, "%s: mmap: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    close(fd);
    static const uint8_t empty[1];
    if (st_parse(f, map ? map : empty, size, path, e) != 0) {
        if (map)
            munmap(map, size);
        return -1;
    }
    f->map = map;
    f->map_size = size;
    f->path = xstrdup(path);
    return 0;
}

void st_close(st_file *f)
{
    free_tensors(f);
    if (f->map)
        munmap(f->map, f->map_size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    st_tensor key = {.name = (char *)name};
    if (!f->n)
        return NULL;
    return bsearch(&key, f->tensors, f->n, sizeof key, cmp_name);
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t ex = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (ex == 0) {
        float v = ldexpf((float)man, -24); /* zero or subnormal */
        return sign ? -v : v;
    }
    if (ex == 31)
        u = sign | 0x7f800000u | man << 13;
    else
        u = sign | (ex + 112) << 23 | man << 13;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int st_to_f32(const st_tensor *t, float *out, const char *what, err_t *e)
{
    const uint8_t *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case ST_F32:
        memcpy(out, p, n * 4);
        return 0;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t u = (uint32_t)h << 16;
            memcpy(&out[i], &u, 4);
        }
        return 0;
    case ST_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = st_f16_to_f32(h);
        }
        return 0;
    case ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            out[i] = (float)d;
        }
        return 0;
    default:
        return err_set(e, "%s: tensor '%s' has dtype %s; weights must be F32, BF16, F16 or F64",
                       what, t->name, st_dtype_name(t->dtype));
    }
}

/* ---- shard sets ---- */

static char *path_join(const char *dir, const char *name)
{
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "%s/%s", dir, name);
    return buf_take(&b);
}

void st_set_close(st_set *s)
{
    for (size_t i = 0; i < s->nfiles; i++)
        st_close(&s->files[i]);
    free(s->files);
    memset(s, 0, sizeof *s);
}

const st_tensor *st_set_find(const st_set *s, const char *name, const char **file)
{
    for (size_t i = 0; i < s->nfiles; i++) {
        const st_tensor *t = st_find(&s->files[i], name);
        if (t) {
            if (file)
                *file = s->files[i].path;
            return t;
        }
    }
    return NULL;
}

static int open_index(st_set *s, const char *dir, const char *index_path, err_t *e)
{
    size_t len;
    char *text = file_read(index_path, &len, e);
    if (!text)
        return -1;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!root)
        return err_set(e, "%s:%d: %s", index_path, je.line, je.text);
    json_t *wm = json_object_get(root, "weight_map");
    int rc = 0;
    strlist_t shards;
    strlist_init(&shards);
    if (!json_is_object(root) || !json_is_object(wm)) {
        rc = err_set(e, "%s: no \"weight_map\" object", index_path);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v) {
        const char *fn = json_string_value(v);
        if (!fn) {
            rc = err_set(e, "%s: weight_map[\"%s\"] is not a string", index_path, key);
            goto done;
        }
        /* A shard is a file beside the index, never a path elsewhere. */
        if (!fn[0] || strchr(fn, '/') || strcmp(fn, ".") == 0 || strcmp(fn, "..") == 0) {
            rc = err_set(e, "%s: weight_map[\"%s\"] = \"%s\" is not a file name in %s", index_path,
                         key, fn, dir);
            goto done;
        }
        if (strlist_index(&shards, fn) < 0)
            strlist_push(&shards, fn);
    }
    if (shards.len == 0) {
        rc = err_set(e, "%s: weight_map is empty", index_path);
        goto done;
    }
    s->files = xcalloc(shards.len, sizeof *s->files);
    for (size_t i = 0; i < shards.len; i++) {
        char *p = path_join(dir, shards.items[i]);
        rc = st_open(&s->files[i], p, e);
        free(p);
        if (rc)
            goto done;
        s->nfiles++;
    }
    json_object_foreach(wm, key, v) {
        int k = strlist_index(&shards, json_string_value(v));
        if (!st_find(&s->files[k], key)) {
            rc = err_set(e, "%s: tensor '%s' is listed in %s, which has no such tensor",
                         index_path, key, s->files[k].path);
            goto done;
        }
    }
    /* One name in two shards would make the weights depend on file order. */
    for (size_t i = 1; i < s->nfiles; i++)
        for (size_t j = 0; j < s->files[i].n; j++)
            for (size_t k = 0; k < i; k++)
                if (st_find(&s->files[k], s->files[i].tensors[j].name)) {
                    rc = err_set(e, "%s: tensor '%s' is in both %s and %s", index_path,
                                 s->files[i].tensors[j].name, s->files[k].path, s->files[i].path);
                    goto done;
                }
done:
    strlist_free(&shards);
    json_decref(root);
    if (rc)
        st_set_close(s);
    return rc;
}

int st_set_open(st_set *s, const char *dir, err_t *e)
{
    memset(s, 0, sizeof *s);
    char *index = path_join(dir, "model.safetensors.index.json");
    char *single = path_join(dir, "model.safetensors");
    int rc;
    if (file_exists(index)) {
        rc = open_index(s, dir, index, e);
    } else if (file_exists(single)) {
        s->files = xcalloc(1, sizeof *s->files);
        rc = st_open(&s->files[0], single, e);
        if (rc == 0)
            s->nfiles = 1;
        else
            st_set_close(s);
    } else {
        rc = err_set(e, "%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    free(index);
    free(single);
    return rc;
}

/* ---- writing ---- */

typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nbytes;
} st_decl;

struct st_writer {
    st_decl *t;
    size_t n, cap;
    afile *f;
    size_t total, written;
};

st_writer *st_writer_new(void)
{
    return xcalloc(1, sizeof(st_writer));
}

void st_writer_add(st_writer *w, const char *name, st_dtype dtype, const int64_t *shape, int ndim)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->t = xrealloc(w->t, w->cap * sizeof *w->t);
    }
    st_decl *d = &w->t[w->n++];
    d->name = xstrdup(name);
    d->dtype = dtype;
    d->ndim = ndim;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        d->shape[i] = shape[i];
        numel *= (size_t)shape[i];
    }
    d->nbytes = numel * st_dtype_size(dtype);
}

int st_writer_begin(st_writer *w, const char *path, err_t *e)
{
    buf_t h;
    buf_init(&h);
    buf_puts(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const st_decl *d = &w->t[i];
        buf_putc(&h, ',');
        py_json_str(&h, d->name, strlen(d->name));
        buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(d->dtype));
        for (int k = 0; k < d->ndim; k++)
            buf_printf(&h, "%s%lld", k ? "," : "", (long long)d->shape[k]);
        buf_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + d->nbytes);
        off += d->nbytes;
    }
    buf_putc(&h, '}');
    while (h.len % 8)
        buf_putc(&h, ' ');
    w->total = off;
    w->written = 0;
    w->f = afile_open(path, e);
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
    int rc = !w->f || afile_write(w->f, len8, 8, e) || afile_write(w->f, h.data, h.len, e) ? -1 : 0;
    buf_free(&h);
    return rc;
}

int st_writer_data(st_writer *w, const void *p, size_t n, err_t *e)
{
    if (w->written + n > w->total)
        return err_set(e, "safetensors writer: %zu bytes more than the header declares",
                       w->written + n - w->total);
    w->written += n;
    return afile_write(w->f, p, n, e);
}

void st_writer_free(st_writer *w)
{
    if (!w)
        return;
    afile_abort(w->f);
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].name);
    free(w->t);
    free(w);
}

int st_writer_finish(st_writer *w, err_t *e)
{
    int rc;
    if (w->written != w->total) {
        rc = err_set(e, "safetensors writer: %zu of %zu declared bytes written", w->written,
                     w->total);
    } else {
        rc = afile_commit(w->f, e);
        w->f = NULL;
    }
    st_writer_free(w);
    return rc;
}

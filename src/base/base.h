/* base: memory, strings, errors, logging, UTF-8, Python-style value text,
 * files, hashing and time. Everything else in retrain builds on this. */
#ifndef RETRAIN_BASE_H
#define RETRAIN_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- memory: allocation failure is fatal (we cannot report anything
 * useful without memory), so callers never check for NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Aligned to `align` (a power of two, a multiple of sizeof(void *)); free(). */
void *xmalloc_aligned(size_t align, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* ---- errors: a fixed buffer for one clear line. */
typedef struct err {
    char msg[1024];
} err_t;
/* Formats into e (if e is not NULL); always returns -1 so callers can
 * write `return err_set(e, "...")`. */
int err_set(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- growable byte buffer that knows its length; data is always
 * NUL-terminated after any append. */
typedef struct buf {
    char *data;
    size_t len, cap;
} buf_t;
void buf_init(buf_t *b);
void buf_free(buf_t *b);
void buf_reset(buf_t *b);
void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *p, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Hands the storage to the caller (free() it); b is left empty. */
char *buf_take(buf_t *b);

/* ---- list of owned strings. */
typedef struct strlist {
    char **items;
    size_t len, cap;
} strlist_t;
void strlist_init(strlist_t *l);
void strlist_free(strlist_t *l);
void strlist_push(strlist_t *l, const char *s);
void strlist_pushn(strlist_t *l, const char *s, size_t n);
void strlist_sort(strlist_t *l); /* byte order, like SQL's BINARY collation */
int strlist_index(const strlist_t *l, const char *s); /* -1 if absent */

/* ---- logging to stderr (stdout may carry a protocol). */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_QUIET };
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
int log_level_parse(const char *s, enum log_level *out);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* ---- UTF-8. */
/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
int utf8_valid(const char *s, size_t n);
/* Number of code points in well-formed UTF-8 (Python's len(str)). */
size_t utf8_count(const char *s, size_t n);
/* Decodes one code point; an ill-formed byte decodes as itself, length 1. */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Appends s with every ill-formed byte replaced by U+FFFD. */
void utf8_append_lossy(buf_t *b, const char *s, size_t n);

/* ---- Python's text forms, so our output matches what Python programs
 * print for the same values. */
/* repr(float): shortest round-trip digits, '1e-05', '0.1', '3.0', 'inf'. */
void py_float_repr(buf_t *b, double v);
/* repr(bytes): b'..' with \x escapes, choosing quotes like Python. */
void py_bytes_repr(buf_t *b, const unsigned char *p, size_t n);
/* repr(str) for valid UTF-8: '...' with Python's escapes and quote choice. */
void py_str_repr(buf_t *b, const char *s, size_t n);
/* json.dumps(str) with ensure_ascii=True (Python's default). */
void py_json_str(buf_t *b, const char *s, size_t n);

/* ---- files. */
/* Reads a whole file; returns NULL and fills e on failure. */
char *file_read(const char *path, size_t *len, err_t *e);
/* Writes via a temporary file in the same directory and rename(2), so a
 * reader never sees a half-written file. */
int file_write_atomic(const char *path, const void *data, size_t n, err_t *e);
int file_exists(const char *path);
/* This program's own path (/proc/self/exe), or "retrain" when it cannot be
 * read: what the database servers are started as (`... mcp-db`). New
 * string. */
char *self_exe_path(void);
/* mkdir -p: 0, or -1 naming the part that could not be made. */
int dir_make(const char *path, err_t *e);
/* The same for a file written piece by piece (a multi-GB checkpoint):
 * data goes to PATH.tmp.PID; commit fsyncs and renames it over PATH, abort
 * removes it. Both free f. */
typedef struct afile afile;
afile *afile_open(const char *path, err_t *e);
int afile_write(afile *f, const void *data, size_t n, err_t *e);
int afile_commit(afile *f, err_t *e);
void afile_abort(afile *f);

/* ---- hashing: SHA-256 through OpenSSL's libcrypto. */
typedef struct sha256_ctx sha256_ctx;
sha256_ctx *sha256_new(void);
void sha256_update(sha256_ctx *c, const void *p, size_t n);
/* Writes 64 lowercase hex digits and a NUL; frees c. */
void sha256_final_hex(sha256_ctx *c, char out[65]);

/* ---- time and randomness. */
uint64_t time_now_ns(void);      /* CLOCK_MONOTONIC */
int random_bytes(void *p, size_t n); /* getrandom(2); 0 on success */

/* ---- threads: a persistent pool for compute kernels (base/threads.c).
 * The pool size defaults to the CPUs this process may run on, or
 * RETRAIN_THREADS; workers start on first use. */
typedef void (*par_fn)(void *ctx, int part, int nparts);
typedef void (*par_range_fn)(void *ctx, long i0, long i1);
/* Threads a job may use, the caller's included (>= 1). */
int par_threads(void);
/* Sets that number; n < 1 restores the default. */
void par_set_threads(int n);
/* Runs fn(ctx, part, n) for part = 0..n-1 at once, part 0 on the calling
 * thread, and returns when all are done; n is capped at par_threads(). A
 * call from inside a part, or from a second thread while the pool is
 * busy, runs the parts one after another on the calling thread. */
void par_run(int nparts, par_fn fn, void *ctx);
/* Splits [0, n) into contiguous chunks of whole `grain`s, one per thread,
 * and calls fn(ctx, i0, i1) for each non-empty chunk. */
void par_for(long n, long grain, par_range_fn fn, void *ctx);

/* ---- small string helpers. */
int str_starts(const char *s, const char *prefix);
int str_ends(const char *s, const char *suffix);
/* strtol-style parse of a whole decimal string; 0 on success. */
int parse_long(const char *s, long *out);

/* ---- seeded random numbers (base/rng.c): xoshiro256** (Blackman and
 * Vigna), its state filled by splitmix64, so a seed gives the same stream
 * on every machine and build. rng_seed_stream gives independent streams
 * for one seed (e.g. one per sequence of a batch), so what a stream draws
 * does not depend on how many others run beside it. Not for secrets. */
typedef struct rng {
    uint64_t s[4];
} rng_t;
void rng_seed(rng_t *r, uint64_t seed);
void rng_seed_stream(rng_t *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng_t *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(rng_t *r);

/* ---- progress bars on stderr (base/progress.c). Drawn in place, at most
 * ten times a second, only when stderr is a terminal (a log file or a
 * test gets nothing until progress_finish, which prints one summary line
 * there). Not thread-safe: one thread updates a bar. */
typedef struct progress {
    char label[48];
    size_t total, done;
    uint64_t t0_ns, drawn_ns;
    int tty;
} progress_t;
void progress_start(progress_t *p, const char *label, size_t total);
/* Sets the count done; note (may be NULL) is shown after the bar. */
void progress_update(progress_t *p, size_t done, const char *note);
/* Ends the bar with a final line: "label: done/total in 1.2 s". */
void progress_finish(progress_t *p);

#endif

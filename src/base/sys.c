/* Files, hashing, time and randomness. */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *file_read(const char *path, size_t *len, err_t *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(e, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf_t b;
    buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        buf_free(&b);
        err_set(e, "%s: read error", path);
        return NULL;
    }
    if (len)
        *len = b.len;
    return buf_take(&b);
}

struct afile {
    int fd;
    char *tmp, *path;
};

afile *afile_open(const char *path, err_t *e)
{
    buf_t tmp;
    buf_init(&tmp);
    buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err_set(e, "%s: %s", tmp.data, strerror(errno));
        buf_free(&tmp);
        return NULL;
    }
    afile *f = xmalloc(sizeof *f);
    f->fd = fd;
    f->tmp = buf_take(&tmp);
    f->path = xstrdup(path);
    return f;
}

int afile_write(afile *f, const void *data, size_t n, err_t *e)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_set(e, "%s: %s", f->tmp, w < 0 ? strerror(errno) : "short write");
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void afile_free(afile *f)
{
    free(f->tmp);
    free(f->path);
    free(f);
}

void afile_abort(afile *f)
{
    if (!f)
        return;
    close(f->fd);
    unlink(f->tmp);
    afile_free(f);
}

int afile_commit(afile *f, err_t *e)
{
    int rc = 0;
    if (fsync(f->fd) != 0 || close(f->fd) != 0) {
        rc = err_set(e, "%s: %s", f->tmp, strerror(errno));
        unlink(f->tmp);
    } else if (rename(f->tmp, f->path) != 0) {
        rc = err_set(e, "%s: %s", f->path, strerror(errno));
        unlink(f->tmp);
    }
    afile_free(f);
    return rc;
}

int file_write_atomic(const char *path, const void *data, size_t n, err_t *e)
{
    afile *f = afile_open(path, e);
    if (!f)
        return -1;
    if (afile_write(f, data, n, e) != 0) {
        afile_abort(f);
        return -1;
    }
    return afile_commit(f, e);
}

int dir_make(const char *path, err_t *e)
{
    if (!path[0])
        return err_set(e, "an empty directory name");
    char *p = xstrdup(path);
    for (char *q = p + 1;; q++) {
        char c = *q;
        if (c != '/' && c != 0)
            continue;
        *q = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            err_set(e, "%s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *q = c;
        if (!c)
            break;
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(e, "%s: not a directory", path);
    return 0;
}

int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

struct sha256_ctx {
    EVP_MD_CTX *md;
};

sha256_ctx *sha256_new(void)
{
    sha256_ctx *c = xmalloc(sizeof *c);
    c->md = EVP_MD_CTX_new();
    if (!c->md || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "retrain: OpenSSL cannot provide SHA-256\n");
        abort();
    }
    return c;
}

void sha256_update(sha256_ctx *c, const void *p, size_t n)
{
    EVP_DigestUpdate(c->md, p, n);
}

void sha256_final_hex(sha256_ctx *c, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(c->md, md, &len);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(c->md);
    free(c);
}

uint64_t time_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int random_bytes(void *p, size_t n)
{
    unsigned char *q = p;
    while (n) {
        ssize_t r = getrandom(q, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        q += r;
        n -= (size_t)r;
    }
    return 0;
}


char *self_exe_path(void)
{
    char p[4096];
    ssize_t n = readlink("/proc/self/exe", p, sizeof p - 1);
    if (n <= 0)
        return xstrdup("retrain");
    p[n] = 0;
    return xstrdup(p);
}

/* rl/metrics: JSON lines, TensorBoard event files (TFRecord framing and
 * Event protobufs encoded by hand) and the console progress line. */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- CRC-32C: reflected polynomial 0x82F63B78, table-driven */

static uint32_t k_crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        k_crc_table[i] = c;
    }
}

uint32_t rl_crc32c(const void *p, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_init);
    const unsigned char *s = p;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = k_crc_table[(c ^ s[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t rl_crc32c_masked(const void *p, size_t n)
{
    uint32_t c = rl_crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static void put_le(buf_t *b, uint64_t v, int bytes)
{
    unsigned char x[8];
    for (int i = 0; i < bytes; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    buf_append(b, x, (size_t)bytes);
}

void rl_tb_record(buf_t *out, const void *data, size_t n)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)n >> (8 * i));
    buf_append(out, len, 8);
    put_le(out, rl_crc32c_masked(len, 8), 4);
    buf_append(out, data, n);
    put_le(out, rl_crc32c_masked(data, n), 4);
}

/* ---- protobuf by hand: varints, tags, length-delimited fields */

static void pb_varint(buf_t *b, uint64_t v)
{
    while (v >= 0x80) {
        buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    buf_putc(b, (char)v);
}

static void pb_bytes(buf_t *b, int field, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    buf_append(b, p, n);
}

void rl_tb_event(buf_t *out, double wall_time, int64_t step, const char *version,
                 const char *const *tags, const double *values, int n)
{
    buf_t ev, sum, val;
    buf_init(&ev);
    buf_init(&sum);
    buf_init(&val);
    /* Event: wall_time = 1 (double), step = 2 (int64), file_version = 3,
     * summary = 5 */
    uint64_t bits;
    memcpy(&bits, &wall_time, 8);
    pb_varint(&ev, 1 << 3 | 1);
    put_le(&ev, bits, 8);
    if (step != 0) {
        pb_varint(&ev, 2 << 3 | 0);
        pb_varint(&ev, (uint64_t)step);
    }
    if (version) {
        pb_bytes(&ev, 3, version, strlen(version));
    } else {
        /* Summary: repeated Value value = 1; Value: tag = 1, simple_value = 2 (float) */
        for (int i = 0; i < n; i++) {
            buf_reset(&val);
            pb_bytes(&val, 1, tags[i], strlen(tags[i]));
            float f = (float)values[i];
            uint32_t fb;
            memcpy(&fb, &f, 4);
            pb_varint(&val, 2 << 3 | 5);
            put_le(&val, fb, 4);
            pb_bytes(&sum, 1, val.data, val.len);
        }
        pb_bytes(&ev, 5, sum.data, sum.len);
    }
    rl_tb_record(out, ev.data, ev.len);
    buf_free(&ev);
    buf_free(&sum);
    buf_free(&val);
}

static double wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec * 1e-6;
}

struct rl_tb {
    FILE *f;
    char *path;
    buf_t b;
};

rl_tb *rl_tb_open(const char *dir, err_t *e)
{
    if (dir_make(dir, e) != 0)
        return NULL;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    rl_tb *w = xcalloc(1, sizeof *w);
    double now = wall_now();
    /* a second writer of this process in the same second gets the next
     * number rather than truncating the first one's file */
    for (int k = 0; k < 1000 && !w->f; k++) {
        buf_t p;
        buf_init(&p);
        buf_printf(&p, "%s/events.out.tfevents.%ld.%s.%ld.%d", dir, (long)now, host, (long)getpid(), k);
        free(w->path);
        w->path = buf_take(&p);
        w->f = fopen(w->path, "wbx");
        if (!w->f && errno != EEXIST)
            break;
    }
    if (!w->f) {
        err_set(e, "%s: cannot create the TensorBoard event file", w->path);
        free(w->path);
        free(w);
        return NULL;
    }
    buf_init(&w->b);
    rl_tb_event(&w->b, now, 0, "brain.Event:2", NULL, NULL, 0);
    if (fwrite(w->b.data, 1, w->b.len, w->f) != w->b.len || fflush(w->f) != 0) {
        err_set(e, "%s: write failed", w->path);
        rl_tb_close(w);
        return NULL;
    }
    return w;
}

int rl_tb_scalars(rl_tb *w, int64_t step, double wall_time, const char *const *tags,
                  const double *values, int n, err_t *e)
{
    buf_reset(&w->b);
    rl_tb_event(&w->b, wall_time, step, NULL, tags, values, n);
    if (fwrite(w->b.data, 1, w->b.len, w->f) != w->b.len || fflush(w->f) != 0)
        return err_set(e, "%s: write failed", w->path);
    return 0;
}

void rl_tb_session_start(buf_t *out, double wall_time, int64_t step)
{
    /* Event { wall_time = 1, step = 2, session_log = 6 { status = 1: START } } */
    buf_t ev;
    buf_init(&ev);
    uint64_t bits;
    memcpy(&bits, &wall_time, 8);
    pb_varint(&ev, 1 << 3 | 1);
    put_le(&ev, bits, 8);
    pb_varint(&ev, 2 << 3 | 0);
    pb_varint(&ev, (uint64_t)step);
    const char start[2] = {1 << 3 | 0, 1};
    pb_bytes(&ev, 6, start, 2);
    rl_tb_record(out, ev.data, ev.len);
    buf_free(&ev);
}

int rl_tb_restart(rl_tb *w, int64_t step, err_t *e)
{
    buf_reset(&w->b);
    rl_tb_session_start(&w->b, wall_now(), step);
    if (fwrite(w->b.data, 1, w->b.len, w->f) != w->b.len || fflush(w->f) != 0)
        return err_set(e, "%s: write failed", w->path);
    return 0;
}

const char *rl_tb_path(const rl_tb *w) { return w->path; }

void rl_tb_close(rl_tb *w)
{
    if (!w)
        return;
    if (w->f)
        fclose(w->f);
    buf_free(&w->b);
    free(w->path);
    free(w);
}

/* ---- JSON lines */

struct rl_metrics {
    FILE *f;
    char *path;
    rl_tb *tb;
};

static void put_number(buf_t *b, double v)
{
    if (!isfinite(v))
        buf_puts(b, "null");
    else
        py_float_repr(b, v);
}

void rl_metrics_line(buf_t *out, long step, double epoch, double timestamp, const json_t *values)
{
    buf_printf(out, "{\"step\": %ld, \"epoch\": ", step);
    put_number(out, epoch);
    buf_puts(out, ", \"timestamp\": ");
    buf_printf(out, "%.3f", timestamp);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)values, k, v) {
        buf_puts(out, ", ");
        py_json_str(out, k, strlen(k));
        buf_puts(out, ": ");
        if (json_is_integer(v)) {
            buf_printf(out, "%lld", (long long)json_integer_value(v));
        } else if (json_is_real(v)) {
            put_number(out, json_real_value(v));
        } else {
            char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            buf_puts(out, s ? s : "null");
            free(s);
        }
    }
    buf_putc(out, '}');
}

int rl_jsonl_keep_steps(const char *path, long keep, err_t *e)
{
    if (!file_exists(path))
        return 0;
    size_t n;
    char *text = file_read(path, &n, e);
    if (!text)
        return -1;
    buf_t out;
    buf_init(&out);
    for (char *line = text; line < text + n;) {
        char *nl = memchr(line, '\n', (size_t)(text + n - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(text + n - line);
        json_t *j = json_loadb(line, len, 0, NULL);
        json_t *s = j ? json_object_get(j, "step") : NULL;
        if (s && json_is_integer(s) && json_integer_value(s) <= keep) {
            buf_append(&out, line, len);
            buf_putc(&out, '\n');
        }
        json_decref(j);
        line += len + 1;
    }
    int rc = file_write_atomic(path, out.data ? out.data : "", out.len, e);
    buf_free(&out);
    free(text);
    return rc;
}

rl_metrics *rl_metrics_open(const char *dir, long resume_step, err_t *e)
{
    if (dir_make(dir, e) != 0)
        return NULL;
    buf_t p;
    buf_init(&p);
    buf_printf(&p, "%s/metrics.jsonl", dir);
    if (resume_step >= 0 && rl_jsonl_keep_steps(p.data, resume_step, e) != 0) {
        buf_free(&p);
        return NULL;
    }
    rl_metrics *m = xcalloc(1, sizeof *m);
    m->path = buf_take(&p);
    m->f = fopen(m->path, "a");
    if (!m->f) {
        err_set(e, "%s: cannot open for appending", m->path);
        rl_metrics_close(m);
        return NULL;
    }
    m->tb = rl_tb_open(dir, e);
    if (!m->tb || (resume_step >= 0 && rl_tb_restart(m->tb, resume_step + 1, e) != 0)) {
        rl_metrics_close(m);
        return NULL;
    }
    return m;
}

int rl_metrics_log(rl_metrics *m, long step, double epoch, const json_t *values, err_t *e)
{
    double now = wall_now();
    buf_t line;
    buf_init(&line);
    rl_metrics_line(&line, step, epoch, now, values);
    buf_putc(&line, '\n');
    int rc = 0;
    if (fwrite(line.data, 1, line.len, m->f) != line.len || fflush(m->f) != 0)
        rc = err_set(e, "%s: write failed", m->path);
    buf_free(&line);
    if (rc)
        return rc;
    size_t n = json_object_size(values) + 1;
    const char **tags = xmalloc(sizeof(char *) * n);
    double *vals = xmalloc(sizeof(double) * n);
    int k = 0;
    tags[k] = "epoch";
    vals[k++] = epoch;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)values, key, v) {
        if (json_is_number(v) || json_is_boolean(v)) {
            tags[k] = key;
            vals[k++] = json_is_boolean(v) ? json_is_true(v) : json_number_value(v);
        }
    }
    rc = rl_tb_scalars(m->tb, step, now, tags, vals, k, e);
    free(tags);
    free(vals);
    return rc;
}

const char *rl_metrics_tb_path(const rl_metrics *m) { return rl_tb_path(m->tb); }

void rl_metrics_close(rl_metrics *m)
{
    if (!m)
        return;
    if (m->f)
        fclose(m->f);
    rl_tb_close(m->tb);
    free(m->path);
    free(m);
}

/* ---- episodes */

void rl_episode_metrics(const ep_episode *eps, int n, json_t *obj)
{
    if (n <= 0)
        return;
    double len = 0, model = 0, clipped = 0, calls = 0, failed = 0, used = 0, turns = 0, answers = 0;
    int lmin = 0, lmax = 0;
    for (int i = 0; i < n; i++) {
        const ep_episode *ep = &eps[i];
        int l = ep->n_tokens - ep->n_prompt;
        lmin = i == 0 || l < lmin ? l : lmin;
        lmax = i == 0 || l > lmax ? l : lmax;
        len += l;
        model += ep->n_model;
        clipped += ep->end == EP_END_BUDGET || ep->end == EP_END_TURN_LIMIT;
        calls += ep->n_calls;
        failed += ep->n_call_errors;
        int ok = 0;
        for (int k = 0; k < ep->n_calls; k++)
            ok |= ep->calls[k].executed && !ep->calls[k].is_error;
        used += ok;
        turns += ep->turns;
        answers += ep->end == EP_END_ANSWER;
    }
    json_object_set_new(obj, "completions/mean_length", json_real(len / n));
    json_object_set_new(obj, "completions/min_length", json_integer(lmin));
    json_object_set_new(obj, "completions/max_length", json_integer(lmax));
    json_object_set_new(obj, "completions/mean_model_tokens", json_real(model / n));
    json_object_set_new(obj, "completions/clipped_ratio", json_real(clipped / n));
    json_object_set_new(obj, "tools/call_frequency", json_real(calls / n));
    json_object_set_new(obj, "tools/failure_frequency", json_real(calls > 0 ? failed / calls : 0));
    json_object_set_new(obj, "tool_usage_rate", json_real(used / n));
    json_object_set_new(obj, "episode_length", json_real(turns / n));
    json_object_set_new(obj, "answer_rate", json_real(answers / n));
}

void rl_time_metrics(const rl_time_split *t, json_t *obj)
{
    json_object_set_new(obj, "time/generation_s", json_real(t->generation_s));
    json_object_set_new(obj, "time/tool_calls_s", json_real(t->tool_calls_s));
    json_object_set_new(obj, "time/reward_s", json_real(t->reward_s));
    json_object_set_new(obj, "time/update_s", json_real(t->update_s));
    json_object_set_new(obj, "time/generation_tokens_per_s",
                        json_real(t->generation_s > 0 ? t->generation_tokens / t->generation_s : 0));
    json_object_set_new(obj, "time/update_tokens_per_s",
                        json_real(t->update_s > 0 ? t->update_tokens / t->update_s : 0));
}

/* ---- console */

static void put_duration(buf_t *b, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        buf_printf(b, "%ldh%02ldm%02lds", t / 3600, t / 60 % 60, t % 60);
    else if (t >= 60)
        buf_printf(b, "%ldm%02lds", t / 60, t % 60);
    else
        buf_printf(b, "%lds", t);
}

void rl_progress_line(buf_t *out, const rl_progress *p)
{
    enum { WIDTH = 20 };
    long filled = p->total > 0 ? p->step * WIDTH / p->total : 0;
    filled = filled > WIDTH ? WIDTH : filled < 0 ? 0 : filled;
    buf_putc(out, '[');
    for (long i = 0; i < WIDTH; i++)
        buf_putc(out, i < filled ? '#' : '.');
    buf_printf(out, "] step %ld/%ld (%ld%%)", p->step, p->total,
               p->total > 0 ? p->step * 100 / p->total : 0);
    /* the key metrics, where the step has them */
    static const struct {
        const char *key, *label;
    } keys[] = {{"reward", "reward"},       {"sql_accuracy", "acc"},
                {"eval_accuracy", "eval acc"}, {"loss", "loss"},
                {"eval_loss", "eval loss"}, {"kl", "kl"}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(p->metrics, keys[i].key);
        double x = json_number_value(v);
        if (!json_is_number(v) || isnan(x) || (!strcmp(keys[i].key, "kl") && x == 0))
            continue;
        buf_printf(out, " | %s %.4g", keys[i].label, x);
    }
    buf_puts(out, " | ");
    put_duration(out, p->elapsed_s);
    buf_puts(out, " elapsed, ETA ");
    if (p->done > 0 && p->total >= p->step)
        put_duration(out, p->elapsed_s / (double)p->done * (double)(p->total - p->step));
    else
        buf_putc(out, '?');
}

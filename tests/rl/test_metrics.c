/* rl/metrics: the event file is read back by a TFRecord + protobuf decoder
 * written here (every CRC checked; the Event fields as TensorBoard's
 * event.proto numbers them), and by the tensorboard package where
 * python3 has it. JSON lines, resume truncation and the progress line. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/rl/metrics.h"
#include "../test.h"

TEST(metrics_crc32c_known_answers)
{
    /* RFC 3720's check value and iSCSI test vectors */
    CHECK(rl_crc32c("123456789", 9) == 0xE3069283u);
    unsigned char zeros[32] = {0}, ones[32];
    memset(ones, 0xFF, sizeof ones);
    CHECK(rl_crc32c(zeros, 32) == 0x8A9136AAu);
    CHECK(rl_crc32c(ones, 32) == 0x62A8AB43u);
    CHECK(rl_crc32c("", 0) == 0);
}

/* ---- a small decoder */

typedef struct {
    double wall_time;
    int64_t step;
    char version[64];
    int session_start;
    int n;
    char tags[64][64];
    float values[64];
} event_t;

static uint64_t rd_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int rd_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (int s = 0; *p < end && s < 64; s += 7) {
        unsigned char c = *(*p)++;
        *v |= (uint64_t)(c & 0x7F) << s;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* Decodes one message's fields, calling back for each; -1 on bad wire data. */
static int decode_value(const unsigned char *p, const unsigned char *end, event_t *ev)
{
    char tag[64] = "";
    float val = NAN;
    while (p < end) {
        uint64_t key, len;
        if (rd_varint(&p, end, &key) != 0)
            return -1;
        if (key == (1 << 3 | 2)) {
            if (rd_varint(&p, end, &len) != 0 || len >= sizeof tag || p + len > end)
                return -1;
            memcpy(tag, p, len);
            tag[len] = 0;
            p += len;
        } else if (key == (2 << 3 | 5)) {
            if (p + 4 > end)
                return -1;
            uint32_t b = (uint32_t)rd_le(p, 4);
            memcpy(&val, &b, 4);
            p += 4;
        } else {
            return -1;
        }
    }
    strcpy(ev->tags[ev->n], tag);
    ev->values[ev->n++] = val;
    return 0;
}

static int decode_event(const unsigned char *p, const unsigned char *end, event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    while (p < end) {
        uint64_t key, len, v;
        if (rd_varint(&p, end, &key) != 0)
            return -1;
        switch (key) {
        case 1 << 3 | 1:
            if (p + 8 > end)
                return -1;
            v = rd_le(p, 8);
            memcpy(&ev->wall_time, &v, 8);
            p += 8;
            break;
        case 2 << 3 | 0:
            if (rd_varint(&p, end, &v) != 0)
                return -1;
            ev->step = (int64_t)v;
            break;
        case 3 << 3 | 2:
            if (rd_varint(&p, end, &len) != 0 || len >= sizeof ev->version || p + len > end)
                return -1;
            memcpy(ev->version, p, len);
            p += len;
            break;
        case 5 << 3 | 2: {
            if (rd_varint(&p, end, &len) != 0 || p + len > end)
                return -1;
            const unsigned char *s = p, *se = p + len;
            while (s < se) {
                uint64_t k2, l2;
                if (rd_varint(&s, se, &k2) != 0 || k2 != (1 << 3 | 2) || rd_varint(&s, se, &l2) != 0 ||
                    s + l2 > se || decode_value(s, s + l2, ev) != 0)
                    return -1;
                s += l2;
            }
            p += len;
            break;
        }
        case 6 << 3 | 2: {
            /* SessionLog: status = 1 (varint) */
            uint64_t k2, st;
            if (rd_varint(&p, end, &len) != 0 || p + len > end)
                return -1;
            const unsigned char *s = p;
            if (rd_varint(&s, p + len, &k2) != 0 || k2 != (1 << 3 | 0) ||
                rd_varint(&s, p + len, &st) != 0)
                return -1;
            ev->session_start = st == 1;
            p += len;
            break;
        }
        default:
            return -1;
        }
    }
    return 0;
}

/* Reads every record, checking both CRCs; returns the count or -1. */
static int read_events(const char *path, event_t *out, int max, char *why, size_t whyn)
{
    size_t n;
    err_t e;
    unsigned char *d = (unsigned char *)file_read(path, &n, &e);
    if (!d) {
        snprintf(why, whyn, "%s", e.msg);
        return -1;
    }
    int k = 0;
    size_t at = 0;
    while (at < n) {
        if (at + 12 > n || k >= max) {
            snprintf(why, whyn, "truncated header at %zu", at);
            k = -1;
            break;
        }
        uint64_t len = rd_le(d + at, 8);
        if ((uint32_t)rd_le(d + at + 8, 4) != rl_crc32c_masked(d + at, 8)) {
            snprintf(why, whyn, "length CRC wrong at %zu", at);
            k = -1;
            break;
        }
        if (at + 12 + len + 4 > n) {
            snprintf(why, whyn, "truncated record at %zu", at);
            k = -1;
            break;
        }
        if ((uint32_t)rd_le(d + at + 12 + len, 4) != rl_crc32c_masked(d + at + 12, len)) {
            snprintf(why, whyn, "data CRC wrong at %zu", at);
            k = -1;
            break;
        }
        if (decode_event(d + at + 12, d + at + 12 + len, &out[k]) != 0) {
            snprintf(why, whyn, "bad protobuf in record %d", k);
            k = -1;
            break;
        }
        k++;
        at += 12 + len + 4;
    }
    free(d);
    return k;
}

TEST(metrics_event_file_decodes)
{
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/logs", test_tmpdir());
    err_t e;
    rl_metrics *m = rl_metrics_open(dir, -1, &e);
    CHECK_MSG(m, "%s", e.msg);
    for (int s = 1; s <= 3; s++) {
        json_t *v = json_pack("{sf,sf,si,ss,sb}", "reward", 0.25 * s, "clip_ratio/low_mean", 0.0,
                              "num_tokens", 1000 * s, "note", "text only", "flag", 1);
        CHECK(rl_metrics_log(m, s, s / 4.0, v, &e) == 0);
        json_decref(v);
    }
    char tb[4400];
    snprintf(tb, sizeof tb, "%s", rl_metrics_tb_path(m));
    CHECK_CONTAINS(tb, "/logs/events.out.tfevents.");
    rl_metrics_close(m);
    static event_t ev[16];
    char why[1200];
    int n = read_events(tb, ev, 16, why, sizeof why);
    CHECK_MSG(n == 4, "%d events: %s", n, n < 0 ? why : "");
    CHECK_STR(ev[0].version, "brain.Event:2");
    CHECK(ev[0].wall_time > 1.6e9);
    CHECK(ev[2].step == 2 && ev[2].wall_time >= ev[0].wall_time);
    /* epoch, reward, clip_ratio/low_mean, num_tokens, flag; not "note" */
    CHECK_MSG(ev[2].n == 5, "%d values", ev[2].n);
    CHECK_STR(ev[2].tags[0], "epoch");
    CHECK(ev[2].values[0] == 0.5f);
    CHECK_STR(ev[2].tags[1], "reward");
    CHECK(ev[2].values[1] == 0.5f);
    CHECK_STR(ev[2].tags[3], "num_tokens");
    CHECK(ev[2].values[3] == 2000.0f);
    CHECK_STR(ev[2].tags[4], "flag");
    CHECK(ev[2].values[4] == 1.0f);
    /* the JSON lines */
    char path[4400];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    size_t len;
    char *text = file_read(path, &len, &e);
    CHECK(text);
    char *second = strchr(text, '\n') + 1;
    CHECK(strncmp(second, "{\"step\": 2, \"epoch\": 0.5, \"timestamp\": ", 38) == 0);
    CHECK_CONTAINS(second, "\"reward\": 0.5, \"clip_ratio/low_mean\": 0.0, \"num_tokens\": 2000, "
                           "\"note\": \"text only\", \"flag\": true}\n");
    free(text);
}

/* TensorBoard's own reader, where python3 has it. */
TEST(metrics_event_file_tensorboard_reader)
{
    if (system("python3 -c 'import tensorboard' 2>/dev/null") != 0) {
        test_skip("python3 has no tensorboard package (the decoder test checks the file)");
        return;
    }
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/tb", test_tmpdir());
    err_t e;
    rl_metrics *m = rl_metrics_open(dir, -1, &e);
    CHECK_MSG(m, "%s", e.msg);
    for (int s = 1; s <= 3; s++) {
        json_t *v = json_pack("{sf}", "reward", 0.25 * s);
        CHECK(rl_metrics_log(m, s, 0, v, &e) == 0);
        json_decref(v);
    }
    rl_metrics_close(m);
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "python3 -c \"from tensorboard.backend.event_processing.event_accumulator import "
             "EventAccumulator as A; a=A('%s'); a.Reload(); s=a.Scalars('reward'); "
             "assert [x.step for x in s]==[1,2,3] and abs(s[1].value-0.5)<1e-6\"",
             dir);
    CHECK(system(cmd) == 0);
}

TEST(metrics_resume_drops_later_lines)
{
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/resume", test_tmpdir());
    err_t e;
    rl_metrics *m = rl_metrics_open(dir, -1, &e);
    CHECK(m);
    for (int s = 1; s <= 5; s++) {
        json_t *v = json_pack("{si}", "s", s);
        CHECK(rl_metrics_log(m, s, 0, v, &e) == 0);
        json_decref(v);
    }
    rl_metrics_close(m);
    m = rl_metrics_open(dir, 3, &e);
    CHECK_MSG(m, "%s", e.msg);
    char tbpath[4400];
    snprintf(tbpath, sizeof tbpath, "%s", rl_metrics_tb_path(m));
    json_t *v = json_pack("{si}", "s", 40);
    CHECK(rl_metrics_log(m, 4, 0, v, &e) == 0);
    json_decref(v);
    rl_metrics_close(m);
    char path[4400];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    size_t n;
    char *text = file_read(path, &n, &e);
    CHECK(text);
    int lines = 0;
    long steps[8];
    for (char *l = text; *l; l = strchr(l, '\n') + 1) {
        json_t *j = json_loads(l, JSON_DISABLE_EOF_CHECK, NULL);
        CHECK(j);
        steps[lines++] = (long)json_integer_value(json_object_get(j, "step"));
        json_decref(j);
    }
    CHECK(lines == 4 && steps[0] == 1 && steps[2] == 3 && steps[3] == 4);
    CHECK_CONTAINS(text, "\"s\": 40");
    free(text);
    /* two event files, the first one intact (version and 5 steps) */
    static event_t ev[8];
    char why[1200];
    char first[4800] = "";
    int files = 0;
    DIR *d = opendir(dir);
    CHECK(d);
    for (struct dirent *de; (de = readdir(d));) {
        if (!strstr(de->d_name, "tfevents"))
            continue;
        files++;
        if (!str_ends(tbpath, de->d_name))
            snprintf(first, sizeof first, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    CHECK(files == 2 && first[0]);
    CHECK(read_events(first, ev, 8, why, sizeof why) == 6);
    /* the resumed run's event file: version, SessionLog START at 4, step 4 */
    int n_ev = read_events(tbpath, ev, 8, why, sizeof why);
    CHECK_MSG(n_ev == 3, "%d events: %s", n_ev, n_ev < 0 ? why : "");
    CHECK(ev[1].session_start && ev[1].step == 4 && ev[1].n == 0);
    CHECK(!ev[2].session_start && ev[2].step == 4 && ev[2].n == 2);
    /* a directory that cannot be made */
    char bad[4400];
    snprintf(bad, sizeof bad, "%s/metrics.jsonl/sub", dir);
    CHECK(rl_metrics_open(bad, -1, &e) == NULL);
    CHECK_CONTAINS(e.msg, "metrics.jsonl");
}

TEST(metrics_progress_line)
{
    buf_t b;
    buf_init(&b);
    json_t *m = json_pack("{sf,sf,sf,sf}", "reward", 0.375, "loss", 0.0123, "kl", 0.0, "sql_accuracy",
                          0.25);
    rl_progress_line(&b, &(rl_progress){12, 100, 12, 65, m});
    CHECK_STR(b.data, "[##..................] step 12/100 (12%) | reward 0.375 | acc 0.25 | loss "
                      "0.0123 | 1m05s elapsed, ETA 7m57s");
    buf_reset(&b);
    rl_progress_line(&b, &(rl_progress){0, 50, 0, 0, NULL});
    CHECK_STR(b.data, "[....................] step 0/50 (0%) | 0s elapsed, ETA ?");
    buf_reset(&b);
    /* resumed at step 40: the ETA counts the 10 steps this process ran */
    json_decref(m);
    m = json_pack("{sf,sf,sf}", "reward", -1.5, "eval_accuracy", 0.5, "kl", 0.01);
    rl_progress_line(&b, &(rl_progress){50, 100, 10, 4000, m});
    CHECK_STR(b.data, "[##########..........] step 50/100 (50%) | reward -1.5 | eval acc 0.5 | kl "
                      "0.01 | 1h06m40s elapsed, ETA 5h33m20s");
    json_decref(m);
    buf_free(&b);
}

TEST(metrics_of_episodes)
{
    ep_call calls[3] = {{.turn = 1, .executed = 1}, {.turn = 2, .executed = 1, .is_error = 1},
                        {.turn = 1, .executed = 0, .is_error = 1}};
    ep_episode eps[2] = {{0}};
    eps[0].n_tokens = 110, eps[0].n_prompt = 10, eps[0].n_model = 60, eps[0].turns = 3;
    eps[0].calls = calls, eps[0].n_calls = 2, eps[0].n_call_errors = 1, eps[0].end = EP_END_ANSWER;
    eps[1].n_tokens = 40, eps[1].n_prompt = 10, eps[1].n_model = 30, eps[1].turns = 1;
    eps[1].calls = calls + 2, eps[1].n_calls = 1, eps[1].n_call_errors = 1, eps[1].end = EP_END_BUDGET;
    json_t *o = json_object();
    rl_episode_metrics(eps, 2, o);
    CHECK(json_real_value(json_object_get(o, "completions/mean_length")) == 65);
    CHECK(json_integer_value(json_object_get(o, "completions/min_length")) == 30);
    CHECK(json_integer_value(json_object_get(o, "completions/max_length")) == 100);
    CHECK(json_real_value(json_object_get(o, "completions/mean_model_tokens")) == 45);
    CHECK(json_real_value(json_object_get(o, "completions/clipped_ratio")) == 0.5);
    CHECK(json_real_value(json_object_get(o, "tools/call_frequency")) == 1.5);
    CHECK(fabs(json_real_value(json_object_get(o, "tools/failure_frequency")) - 2.0 / 3) < 1e-12);
    CHECK(json_real_value(json_object_get(o, "tool_usage_rate")) == 0.5);
    CHECK(json_real_value(json_object_get(o, "episode_length")) == 2);
    CHECK(json_real_value(json_object_get(o, "answer_rate")) == 0.5);
    json_decref(o);
}

TEST(metrics_time_split)
{
    rl_time_split t = {.generation_s = 2, .tool_calls_s = 0.5, .reward_s = 0.25, .update_s = 4,
                       .generation_tokens = 1000, .update_tokens = 6000};
    json_t *o = json_object();
    rl_time_metrics(&t, o);
    CHECK(json_real_value(json_object_get(o, "time/generation_tokens_per_s")) == 500);
    CHECK(json_real_value(json_object_get(o, "time/update_tokens_per_s")) == 1500);
    CHECK(json_real_value(json_object_get(o, "time/tool_calls_s")) == 0.5);
    t.update_s = 0;
    rl_time_metrics(&t, o);
    CHECK(json_real_value(json_object_get(o, "time/update_tokens_per_s")) == 0);
    json_decref(o);
}

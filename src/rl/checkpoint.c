/* rl/checkpoint: checkpoint folders written atomically, trainer_state.json,
 * scheduler and RNG state, pruning and finding the latest. */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- trainer_state.json */

void rl_state_init(rl_trainer_state *s)
{
    memset(s, 0, sizeof *s);
    s->log_history = json_array();
    s->best_metric = NAN;
    s->extra = json_object();
}

void rl_state_free(rl_trainer_state *s)
{
    json_decref(s->log_history);
    json_decref(s->extra);
    free(s->best_model_checkpoint);
    memset(s, 0, sizeof *s);
}

json_t *rl_state_to_json(const rl_trainer_state *s)
{
    json_t *j = json_object();
    json_object_set_new(j, "best_metric", isnan(s->best_metric) ? json_null() : json_real(s->best_metric));
    json_object_set_new(j, "best_model_checkpoint",
                        s->best_model_checkpoint ? json_string(s->best_model_checkpoint) : json_null());
    json_object_set_new(j, "epoch", json_real(s->epoch));
    json_object_set_new(j, "eval_steps", json_integer(s->eval_steps));
    json_object_set_new(j, "global_step", json_integer(s->global_step));
    json_object_set_new(j, "is_hyper_param_search", json_false());
    json_object_set_new(j, "is_local_process_zero", json_true());
    json_object_set_new(j, "is_world_process_zero", json_true());
    json_object_set_new(j, "log_history", json_deep_copy(s->log_history));
    json_object_set_new(j, "logging_steps", json_integer(s->logging_steps));
    json_object_set_new(j, "max_steps", json_integer(s->max_steps));
    json_object_set_new(j, "num_train_epochs", json_real(s->num_train_epochs));
    json_object_set_new(j, "save_steps", json_integer(s->save_steps));
    json_object_set_new(j, "total_flos", json_integer(0));
    json_object_set_new(j, "train_batch_size", json_integer(s->train_batch_size));
    json_object_set_new(j, "trial_name", json_null());
    json_object_set_new(j, "trial_params", json_null());
    json_object_set_new(j, "retrain", json_deep_copy(s->extra));
    return j;
}

static int need_int(const json_t *j, const char *k, const char *what, long *out, err_t *e)
{
    json_t *v = json_object_get(j, k);
    if (!json_is_integer(v))
        return err_set(e, "%s: %s: expected an integer", what, k);
    *out = (long)json_integer_value(v);
    return 0;
}

int rl_state_from_json(rl_trainer_state *s, const json_t *j, const char *what, err_t *e)
{
    rl_state_init(s);
    if (!json_is_object(j)) {
        rl_state_free(s);
        return err_set(e, "%s: expected a JSON object", what);
    }
    long v[5] = {0};
    const char *ik[] = {"global_step", "max_steps", "logging_steps", "save_steps", "train_batch_size"};
    for (int i = 0; i < 5; i++)
        if (need_int(j, ik[i], what, &v[i], e) != 0) {
            rl_state_free(s);
            return -1;
        }
    s->global_step = v[0];
    s->max_steps = v[1];
    s->logging_steps = (int)v[2];
    s->save_steps = (int)v[3];
    s->train_batch_size = (int)v[4];
    json_t *x = json_object_get(j, "eval_steps");
    s->eval_steps = json_is_integer(x) ? (int)json_integer_value(x) : 0;
    s->epoch = json_number_value(json_object_get(j, "epoch"));
    s->num_train_epochs = json_number_value(json_object_get(j, "num_train_epochs"));
    json_t *lh = json_object_get(j, "log_history");
    if (!json_is_array(lh)) {
        rl_state_free(s);
        return err_set(e, "%s: log_history: expected an array", what);
    }
    json_decref(s->log_history);
    s->log_history = json_deep_copy(lh);
    x = json_object_get(j, "best_metric");
    s->best_metric = json_is_number(x) ? json_number_value(x) : NAN;
    x = json_object_get(j, "best_model_checkpoint");
    if (json_is_string(x))
        s->best_model_checkpoint = xstrdup(json_string_value(x));
    x = json_object_get(j, "retrain");
    if (json_is_object(x)) {
        json_decref(s->extra);
        s->extra = json_deep_copy(x);
    }
    if (s->global_step < 0) {
        rl_state_free(s);
        return err_set(e, "%s: global_step: must be >= 0", what);
    }
    return 0;
}

void rl_state_log(rl_trainer_state *s, const json_t *entry)
{
    json_array_append_new(s->log_history, json_deep_copy(entry));
}

int rl_state_update_best(rl_trainer_state *s, double value, int greater_is_better, const char *ckpt_dir)
{
    if (isnan(value))
        return 0;
    int better = isnan(s->best_metric) ||
                 (greater_is_better ? value > s->best_metric : value < s->best_metric);
    if (!better)
        return 0;
    s->best_metric = value;
    free(s->best_model_checkpoint);
    s->best_model_checkpoint = ckpt_dir ? xstrdup(ckpt_dir) : NULL;
    return 1;
}

/* ---- files */

static int write_json(const char *dir, const char *name, json_t *j, err_t *e)
{
    buf_t p;
    buf_init(&p);
    buf_printf(&p, "%s/%s", dir, name);
    char *text = json_dumps(j, JSON_INDENT(2));
    buf_t t;
    buf_init(&t);
    buf_puts(&t, text);
    buf_putc(&t, '\n');
    free(text);
    int rc = file_write_atomic(p.data, t.data, t.len, e);
    buf_free(&t);
    buf_free(&p);
    return rc;
}

static json_t *read_json(const char *dir, const char *name, err_t *e)
{
    buf_t p;
    buf_init(&p);
    buf_printf(&p, "%s/%s", dir, name);
    json_error_t je;
    json_t *j = json_load_file(p.data, 0, &je);
    if (!j)
        err_set(e, "%s:%d: %s", p.data, je.line, je.text);
    buf_free(&p);
    return j;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

int rl_ckpt_remove_tree(const char *path, err_t *e)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : err_set(e, "%s: %s", path, strerror(errno));
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return err_set(e, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

/* "checkpoint-123" -> 123; -1 for another name. */
static long ckpt_step(const char *name)
{
    if (strncmp(name, "checkpoint-", 11) != 0 || !name[11])
        return -1;
    long v;
    return parse_long(name + 11, &v) == 0 && v >= 0 ? v : -1;
}

typedef struct {
    long step;
    char *path;
} ckpt_ent;

static int cmp_ent(const void *a, const void *b)
{
    long x = ((const ckpt_ent *)a)->step, y = ((const ckpt_ent *)b)->step;
    return (x > y) - (x < y);
}

/* The checkpoint-N folders of run_dir, sorted by N. complete: only those
 * with trainer_state.json. */
static int list_ckpts(const char *run_dir, int complete, ckpt_ent **out, int *n, err_t *e)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(run_dir);
    if (!d)
        return errno == ENOENT ? 0 : err_set(e, "%s: %s", run_dir, strerror(errno));
    struct dirent *de;
    int cap = 0;
    while ((de = readdir(d))) {
        long s = ckpt_step(de->d_name);
        if (s < 0)
            continue;
        buf_t p;
        buf_init(&p);
        buf_printf(&p, "%s/%s", run_dir, de->d_name);
        struct stat st;
        int ok = stat(p.data, &st) == 0 && S_ISDIR(st.st_mode);
        if (ok && complete) {
            buf_t ts;
            buf_init(&ts);
            buf_printf(&ts, "%s/trainer_state.json", p.data);
            ok = file_exists(ts.data);
            buf_free(&ts);
        }
        if (!ok) {
            buf_free(&p);
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *out = xrealloc(*out, sizeof **out * (size_t)cap);
        }
        (*out)[*n].step = s;
        (*out)[(*n)++].path = buf_take(&p);
    }
    closedir(d);
    if (*n)
        qsort(*out, (size_t)*n, sizeof **out, cmp_ent);
    return 0;
}

static void free_ents(ckpt_ent *v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i].path);
    free(v);
}

/* Temporaries of saves that never finished (a killed run). */
static void remove_stale(const char *run_dir)
{
    DIR *d = opendir(run_dir);
    if (!d)
        return;
    struct dirent *de;
    strlist_t stale;
    strlist_init(&stale);
    while ((de = readdir(d)))
        if (str_starts(de->d_name, ".checkpoint-") &&
            (strstr(de->d_name, ".tmp.") || strstr(de->d_name, ".old.")))
            strlist_push(&stale, de->d_name);
    closedir(d);
    for (size_t i = 0; i < stale.len; i++) {
        buf_t p;
        buf_init(&p);
        buf_printf(&p, "%s/%s", run_dir, stale.items[i]);
        err_t e;
        if (rl_ckpt_remove_tree(p.data, &e) != 0)
            log_warn("%s", e.msg);
        buf_free(&p);
    }
    strlist_free(&stale);
}

static int write_contents(const rl_ckpt_save_opts *o, const char *dir, err_t *e)
{
    if (o->model) {
        if (tf_lora_num_params(o->model) > 0) {
            if (tf_lora_save(o->model, dir, e) != 0)
                return -1;
            if (o->model_dir && tf_copy_tokenizer_files(o->model_dir, dir, e) != 0)
                return -1;
        } else if (tf_save_hf(o->model, dir, e) != 0) {
            return -1;
        }
    }
    if (o->trainer) {
        buf_t p;
        buf_init(&p);
        buf_printf(&p, "%s/optimizer.safetensors", dir);
        int rc = tf_trainer_save(o->trainer, p.data, e);
        buf_free(&p);
        if (rc)
            return -1;
    }
    if (o->sched) {
        static const char *const kinds[] = {"constant", "linear", "cosine"};
        json_t *j = json_pack("{ss,sf,si,si,sI}", "kind", kinds[o->sched->kind], "lr",
                              (double)o->sched->lr, "warmup_steps", o->sched->warmup_steps,
                              "total_steps", o->sched->total_steps, "last_step",
                              (json_int_t)o->step);
        int rc = write_json(dir, "scheduler.json", j, e);
        json_decref(j);
        if (rc)
            return -1;
    }
    if (o->n_rngs > 0) {
        json_t *streams = json_array();
        for (int i = 0; i < o->n_rngs; i++) {
            json_t *w = json_array();
            for (int k = 0; k < 4; k++) {
                char hex[20];
                snprintf(hex, sizeof hex, "%016llx", (unsigned long long)o->rngs[i].s[k]);
                json_array_append_new(w, json_string(hex));
            }
            json_array_append_new(streams, w);
        }
        json_t *j = json_pack("{so}", "streams", streams);
        int rc = write_json(dir, "rng_state.json", j, e);
        json_decref(j);
        if (rc)
            return -1;
    }
    /* last: its presence marks the folder complete */
    json_t *st = rl_state_to_json(o->state);
    int rc = write_json(dir, "trainer_state.json", st, e);
    json_decref(st);
    return rc;
}

int rl_ckpt_save(const rl_ckpt_save_opts *o, char **out_dir, err_t *e)
{
    if (!o->run_dir || !o->state || o->step < 0)
        return err_set(e, "rl_ckpt_save: a run folder, a step >= 0 and the trainer state are needed");
    if (dir_make(o->run_dir, e) != 0)
        return -1;
    remove_stale(o->run_dir);
    buf_t tmp, fin, old;
    buf_init(&tmp);
    buf_init(&fin);
    buf_init(&old);
    buf_printf(&tmp, "%s/.checkpoint-%ld.tmp.%ld", o->run_dir, o->step, (long)getpid());
    buf_printf(&fin, "%s/checkpoint-%ld", o->run_dir, o->step);
    buf_printf(&old, "%s/.checkpoint-%ld.old.%ld", o->run_dir, o->step, (long)getpid());
    int rc = dir_make(tmp.data, e);
    if (rc == 0)
        rc = write_contents(o, tmp.data, e);
    if (rc == 0 && file_exists(fin.data)) {
        /* a checkpoint of this step exists (a resumed run saving again):
         * move it aside, put the new one in place, then delete it */
        if (rename(fin.data, old.data) != 0)
            rc = err_set(e, "%s: cannot move the previous checkpoint aside: %s", fin.data,
                         strerror(errno));
    }
    if (rc == 0 && rename(tmp.data, fin.data) != 0)
        rc = err_set(e, "%s: cannot rename into place: %s", fin.data, strerror(errno));
    if (rc != 0) {
        err_t ignore;
        rl_ckpt_remove_tree(tmp.data, &ignore);
    } else {
        rc = rl_ckpt_remove_tree(old.data, e);
    }
    if (rc == 0 && o->save_total_limit > 0)
        rc = rl_ckpt_prune(o->run_dir, o->save_total_limit, o->state->best_model_checkpoint, e);
    if (rc == 0 && out_dir)
        *out_dir = buf_take(&fin);
    buf_free(&tmp);
    buf_free(&fin);
    buf_free(&old);
    return rc;
}

/* Same folder? By realpath, so "run/checkpoint-5" and
 * "./run/checkpoint-5" agree. */
static int same_dir(const char *a, const char *b)
{
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    int same = ra && rb && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

int rl_ckpt_prune(const char *run_dir, int limit, const char *keep, err_t *e)
{
    if (limit <= 0)
        return 0;
    ckpt_ent *v;
    int n;
    if (list_ckpts(run_dir, 0, &v, &n, e) != 0)
        return -1;
    int remaining = n, rc = 0;
    for (int i = 0; i < n - 1 && remaining > limit && rc == 0; i++) {
        if (keep && same_dir(v[i].path, keep))
            continue;
        rc = rl_ckpt_remove_tree(v[i].path, e);
        remaining--;
    }
    free_ents(v, n);
    return rc;
}

int rl_ckpt_latest(const char *run_dir, char **out, err_t *e)
{
    ckpt_ent *v;
    int n;
    *out = NULL;
    if (list_ckpts(run_dir, 1, &v, &n, e) != 0)
        return -1;
    if (n == 0) {
        free(v);
        return 1;
    }
    *out = v[n - 1].path;
    v[n - 1].path = NULL;
    free_ents(v, n);
    return 0;
}

int rl_ckpt_resolve(const char *path, char **out, err_t *e)
{
    buf_t ts;
    buf_init(&ts);
    buf_printf(&ts, "%s/trainer_state.json", path);
    int here = file_exists(ts.data);
    buf_free(&ts);
    if (here) {
        *out = xstrdup(path);
        return 0;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(e, "--resume %s: no such folder", path);
    int rc = rl_ckpt_latest(path, out, e);
    if (rc == 1)
        return err_set(e, "--resume %s: neither a checkpoint (no trainer_state.json) nor a run "
                          "folder holding checkpoint-N folders", path);
    return rc;
}

static int parse_hex64(const char *s, uint64_t *v)
{
    if (!s || strlen(s) != 16)
        return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 16);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

int rl_ckpt_load(const char *dir, rl_trainer_state *state, tf_sched *sched, rng_t *rngs,
                 int n_rngs, err_t *e)
{
    json_t *j = read_json(dir, "trainer_state.json", e);
    if (!j)
        return -1;
    buf_t what;
    buf_init(&what);
    buf_printf(&what, "%s/trainer_state.json", dir);
    int rc = rl_state_from_json(state, j, what.data, e);
    json_decref(j);
    buf_free(&what);
    if (rc)
        return -1;
    if (sched) {
        j = read_json(dir, "scheduler.json", e);
        const char *kind = json_string_value(json_object_get(j, "kind"));
        json_t *lr = json_object_get(j, "lr"), *w = json_object_get(j, "warmup_steps"),
               *t = json_object_get(j, "total_steps");
        if (!j)
            rc = -1;
        else if (!kind || tf_sched_parse(kind, &sched->kind) != 0 || !json_is_number(lr) ||
                 !json_is_integer(w) || !json_is_integer(t))
            rc = err_set(e, "%s/scheduler.json: expected {kind, lr, warmup_steps, total_steps}", dir);
        else {
            sched->lr = (float)json_number_value(lr);
            sched->warmup_steps = (int)json_integer_value(w);
            sched->total_steps = (int)json_integer_value(t);
        }
        json_decref(j);
    }
    if (rc == 0 && n_rngs > 0) {
        j = read_json(dir, "rng_state.json", e);
        json_t *s = json_object_get(j, "streams");
        if (!j) {
            rc = -1;
        } else if (!json_is_array(s) || (int)json_array_size(s) != n_rngs) {
            rc = err_set(e, "%s/rng_state.json: expected %d RNG streams", dir, n_rngs);
        } else {
            for (int i = 0; i < n_rngs && rc == 0; i++)
                for (int k = 0; k < 4 && rc == 0; k++)
                    if (parse_hex64(json_string_value(json_array_get(json_array_get(s, i), k)),
                                    &rngs[i].s[k]) != 0)
                        rc = err_set(e, "%s/rng_state.json: stream %d word %d: expected 16 hex digits",
                                     dir, i, k);
        }
        json_decref(j);
    }
    if (rc)
        rl_state_free(state);
    return rc;
}

int rl_ckpt_load_optimizer(tf_trainer *t, const char *dir, err_t *e)
{
    buf_t p;
    buf_init(&p);
    buf_printf(&p, "%s/optimizer.safetensors", dir);
    int rc = tf_trainer_load(t, p.data, e);
    buf_free(&p);
    return rc;
}

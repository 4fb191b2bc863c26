/* rl/rewards: built-in reward functions and verifiers, their params,
 * distribution over turns, weighted totals and per-function metrics. */
#include "rewards.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_dist_names[] = {"last_step", "all_steps_average", "all_steps_equal"};

int rl_reward_dist_parse(const char *s, rl_reward_dist *out)
{
    for (size_t i = 0; i < ARRAY_LEN(k_dist_names); i++)
        if (s && strcmp(s, k_dist_names[i]) == 0) {
            *out = (rl_reward_dist)i;
            return 0;
        }
    return -1;
}

const char *rl_reward_dist_name(rl_reward_dist d)
{
    return (unsigned)d < ARRAY_LEN(k_dist_names) ? k_dist_names[d] : "?";
}

/* ---- the registry */

typedef enum { P_NUM, P_INT, P_ANY } ptype;
typedef struct {
    const char *name;
    ptype type;
} pdef;

typedef struct {
    const char *name;
    int step;          /* usable as a step reward */
    const pdef *params; /* NULL-terminated; NULL: any params (passed on) */
} rdef;

static const pdef k_no_params[] = {{NULL, P_ANY}};
static const pdef k_tool_params[] = {{"min_calls", P_INT}, {NULL, P_ANY}};
static const pdef k_eff_params[] = {
    {"max_turns", P_INT}, {"max_tokens", P_INT}, {"turn_weight", P_NUM}, {NULL, P_ANY}};

static const rdef k_rewards[] = {
    {"execution_accuracy", 1, NULL},  {"sql_executes", 1, k_no_params},
    {"sql_syntax_valid", 1, k_no_params}, {"format", 1, k_no_params},
    {"tool_use", 1, k_tool_params},   {"efficiency", 0, k_eff_params},
};
static const char *const k_verifiers[] = {"has_answer",   "format",   "sql_syntax_valid",
                                          "sql_executes", "tool_use", "no_tool_errors"};

static const rdef *rfind(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(k_rewards); i++)
        if (name && strcmp(name, k_rewards[i].name) == 0)
            return &k_rewards[i];
    return NULL;
}

int rl_reward_known(const char *name, rl_reward_level level)
{
    const rdef *d = rfind(name);
    return d && (level == RL_REWARD_ROLLOUT || d->step);
}

int rl_verifier_known(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(k_verifiers); i++)
        if (name && strcmp(name, k_verifiers[i]) == 0)
            return 1;
    return 0;
}

const char *rl_reward_names(void)
{
    return "execution_accuracy, sql_executes, sql_syntax_valid, format, tool_use, efficiency";
}

const char *rl_verifier_names(void)
{
    return "has_answer, format, sql_syntax_valid, sql_executes, tool_use, no_tool_errors";
}

int rl_reward_check(const rl_reward_spec *s, const char *where, err_t *e)
{
    const rdef *d = rfind(s->name);
    if (!d)
        return err_set(e, "%s: unknown reward function (known: %s)", where, rl_reward_names());
    if (s->level == RL_REWARD_STEP && !d->step)
        return err_set(e, "%s: %s scores a whole episode; list it under rollout_reward_configs",
                       where, s->name);
    if (!isfinite(s->weight))
        return err_set(e, "%s.weight: must be a finite number", where);
    if (!(s->verifier_penalty >= 0) || !isfinite(s->verifier_penalty))
        return err_set(e, "%s.verifier_penalty: must be a number >= 0", where);
    if (s->params && !json_is_object(s->params))
        return err_set(e, "%s.params: expected an object", where);
    if (d->params && s->params) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)s->params, k, v) {
            const pdef *p = d->params;
            while (p->name && strcmp(p->name, k) != 0)
                p++;
            if (!p->name)
                return err_set(e, "%s.params.%s: unknown parameter of %s", where, k, s->name);
            if (p->type == P_INT && !json_is_integer(v))
                return err_set(e, "%s.params.%s: expected an integer", where, k);
            if (p->type == P_NUM && !json_is_number(v))
                return err_set(e, "%s.params.%s: expected a number", where, k);
            if (json_is_number(v) && json_number_value(v) < 0)
                return err_set(e, "%s.params.%s: must be >= 0", where, k);
        }
    }
    for (int i = 0; i < s->n_verifiers; i++)
        if (!rl_verifier_known(s->verifiers[i]))
            return err_set(e, "%s.verifiers[%d]: unknown verifier \"%s\" (known: %s)", where, i,
                           s->verifiers[i], rl_verifier_names());
    return 0;
}

/* ---- episode helpers */

static int answered(const ep_episode *ep)
{
    return ep->end == EP_END_ANSWER && ep->final_sql && ep->final_sql[0];
}

const char *rl_turn_sql(const ep_episode *ep, int turn)
{
    if (turn == 0)
        return answered(ep) ? ep->final_sql : NULL;
    for (int i = 0; i < ep->n_calls; i++) {
        const ep_call *c = &ep->calls[i];
        if (c->turn != turn || !c->args)
            continue;
        json_t *q = json_object_get(c->args, "query");
        if (json_is_string(q))
            return json_string_value(q);
    }
    if (turn == ep->turns && answered(ep))
        return ep->final_sql;
    return NULL;
}

int rl_successful_calls(const ep_episode *ep, int turn)
{
    int n = 0;
    for (int i = 0; i < ep->n_calls; i++)
        if ((turn == 0 || ep->calls[i].turn == turn) && ep->calls[i].executed &&
            !ep->calls[i].is_error)
            n++;
    return n;
}

static int refused_calls(const ep_episode *ep, int turn)
{
    int n = 0;
    for (int i = 0; i < ep->n_calls; i++)
        if ((turn == 0 || ep->calls[i].turn == turn) && !ep->calls[i].executed)
            n++;
    return n;
}

static int calls_in(const ep_episode *ep, int turn)
{
    int n = 0;
    for (int i = 0; i < ep->n_calls; i++)
        n += turn == 0 || ep->calls[i].turn == turn;
    return n;
}

int rl_sqlite_syntax(const char *db_path, const char *sql, int *ok, buf_t *msg, err_t *e)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        err_set(e, "%s: cannot open the SQLite database: %s", db_path,
                db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
    *ok = rc == SQLITE_OK && st != NULL;
    if (rc != SQLITE_OK && msg)
        buf_puts(msg, sqlite3_errmsg(db));
    else if (rc == SQLITE_OK && !st && msg)
        buf_puts(msg, "no statement");
    /* a second statement after the first is not one query */
    if (*ok && tail) {
        while (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';')
            tail++;
        if (*tail) {
            *ok = 0;
            if (msg)
                buf_puts(msg, "more than one statement");
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 0;
}

static double param_num(const json_t *params, const char *k, double dflt)
{
    json_t *v = params ? json_object_get(params, k) : NULL;
    return v && json_is_number(v) ? json_number_value(v) : dflt;
}

int rl_reward_score(const char *name, const json_t *params, const rl_reward_env *env,
                    const rl_reward_task *task, const ep_episode *ep, int turn, double *score,
                    err_t *e)
{
    *score = 0;
    const char *id = task && task->id ? task->id : "?";
    if (!strcmp(name, "execution_accuracy")) {
        int answer_turn = answered(ep) && (turn == 0 || turn == ep->turns);
        if (!answer_turn)
            return 0;
        if (!env || !env->score)
            return err_set(e, "execution_accuracy: no scorer was given for task %s", id);
        json_t *none = params ? NULL : json_object();
        int rc = env->score(env->score_user, task, ep->final_sql, params ? params : none, score, e);
        json_decref(none);
        return rc == 0 ? 0 : -1;
    }
    if (!strcmp(name, "sql_executes") || !strcmp(name, "sql_syntax_valid")) {
        const char *sql = rl_turn_sql(ep, turn);
        if (!sql)
            return 0;
        int ok = 0;
        if (!strcmp(name, "sql_executes")) {
            if (!env || !env->exec)
                return err_set(e, "sql_executes: no executor was given for task %s", id);
            if (env->exec(env->exec_user, task, sql, &ok, NULL, e) != 0)
                return -1;
        } else {
            if (!task || !task->sqlite_path)
                return err_set(e, "sql_syntax_valid: task %s has no SQLite database to check against",
                               id);
            if (rl_sqlite_syntax(task->sqlite_path, sql, &ok, NULL, e) != 0)
                return -1;
        }
        *score = ok;
        return 0;
    }
    if (!strcmp(name, "format")) {
        if (turn == 0)
            *score = answered(ep) && refused_calls(ep, 0) == 0 && ep->n_refused_answers == 0;
        else
            *score = (calls_in(ep, turn) > 0 && refused_calls(ep, turn) == 0) ||
                     (turn == ep->turns && answered(ep));
        return 0;
    }
    if (!strcmp(name, "tool_use")) {
        int ok = rl_successful_calls(ep, turn);
        if (turn == 0) {
            double need = param_num(params, "min_calls", 1);
            *score = need <= 0 ? 1.0 : fmin(1.0, ok / need);
        } else {
            *score = ok > 0;
        }
        return 0;
    }
    if (!strcmp(name, "efficiency")) {
        if (!answered(ep))
            return 0;
        double max_turns = param_num(params, "max_turns", 20);
        double max_tokens = param_num(params, "max_tokens", 4096);
        double tw = param_num(params, "turn_weight", 0.5);
        double s = 1 - tw * (ep->turns - 1) / fmax(1, max_turns - 1) -
                   (1 - tw) * ep->n_model / fmax(1, max_tokens);
        *score = s < 0 ? 0 : s > 1 ? 1 : s;
        return 0;
    }
    return err_set(e, "%s: unknown reward function (known: %s)", name, rl_reward_names());
}

int rl_verifier_run(const char *name, const rl_reward_env *env, const rl_reward_task *task,
                    const ep_episode *ep, int turn, int *pass, err_t *e)
{
    if (!strcmp(name, "has_answer")) {
        *pass = answered(ep) && (turn == 0 || turn == ep->turns);
        return 0;
    }
    if (!strcmp(name, "no_tool_errors")) {
        *pass = 1;
        for (int i = 0; i < ep->n_calls; i++)
            if ((turn == 0 || ep->calls[i].turn == turn) && ep->calls[i].is_error)
                *pass = 0;
        return 0;
    }
    if (!rl_verifier_known(name))
        return err_set(e, "unknown verifier \"%s\" (known: %s)", name, rl_verifier_names());
    double s;
    if (rl_reward_score(name, NULL, env, task, ep, turn, &s, e) != 0)
        return -1;
    *pass = s >= 1;
    return 0;
}

/* ---- batches */

/* Score of one function for one episode (turn 0) or turn, with the
 * verifiers' penalty. */
static int scored(const rl_reward_spec *s, const rl_reward_env *env, const rl_reward_task *task,
                  const ep_episode *ep, int turn, double *out, double *raw, long *failures,
                  err_t *e)
{
    if (rl_reward_score(s->name, s->params, env, task, ep, turn, out, e) != 0)
        return -1;
    *raw = *out;
    for (int v = 0; v < s->n_verifiers; v++) {
        int pass;
        if (rl_verifier_run(s->verifiers[v], env, task, ep, turn, &pass, e) != 0)
            return -1;
        if (!pass) {
            *out -= s->verifier_penalty;
            (*failures)++;
            break; /* one penalty however many checks fail */
        }
    }
    return 0;
}

int rl_reward_batch(const rl_reward_spec *specs, int nspec, const rl_reward_env *env,
                    const rl_reward_task *tasks, const ep_episode *eps, int n,
                    rl_reward_result *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->nfunc = nspec;
    out->total = xcalloc((size_t)n + 1, sizeof(double));
    out->value = xcalloc((size_t)n * nspec + 1, sizeof(double));
    out->raw = xcalloc((size_t)n * nspec + 1, sizeof(double));
    out->turn_off = xcalloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++) {
        int N = eps[i].turns > 0 ? eps[i].turns : 1;
        out->turn_off[i + 1] = out->turn_off[i] + N;
    }
    out->turn = xcalloc((size_t)out->turn_off[n] + 1, sizeof(double));
    for (int i = 0; i < n; i++) {
        const ep_episode *ep = &eps[i];
        int N = out->turn_off[i + 1] - out->turn_off[i];
        double *tv = out->turn + out->turn_off[i];
        for (int f = 0; f < nspec; f++) {
            const rl_reward_spec *s = &specs[f];
            double roll = 0, value = 0, raw = 0;
            if (s->level == RL_REWARD_ROLLOUT &&
                scored(s, env, &tasks[i], ep, 0, &roll, &raw, &out->verifier_failures, e) != 0)
                goto fail;
            for (int t = 1; t <= N; t++) {
                double st = roll, rt;
                if (s->level == RL_REWARD_STEP) {
                    if (scored(s, env, &tasks[i], ep, t, &st, &rt, &out->verifier_failures, e) != 0)
                        goto fail;
                    raw += rt / N;
                }
                double v = s->dist == RL_DIST_LAST_STEP ? (t == N ? st : 0)
                           : s->dist == RL_DIST_ALL_STEPS_AVERAGE ? st / N
                                                                  : st;
                tv[t - 1] += s->weight * v;
                value += v;
            }
            out->value[(size_t)i * nspec + f] = value;
            out->raw[(size_t)i * nspec + f] = raw;
            out->total[i] += s->weight * value;
        }
    }
    return 0;
fail:
    rl_reward_result_free(out);
    return -1;
}

void rl_reward_result_free(rl_reward_result *r)
{
    free(r->total);
    free(r->value);
    free(r->raw);
    free(r->turn);
    free(r->turn_off);
    memset(r, 0, sizeof *r);
}

void rl_reward_metrics(const rl_reward_spec *specs, int nspec, const rl_reward_result *r,
                       json_t *obj)
{
    for (int f = 0; f < nspec; f++) {
        double m = 0, s = 0;
        for (int i = 0; i < r->n; i++)
            m += r->value[(size_t)i * nspec + f];
        m = r->n ? m / r->n : 0;
        for (int i = 0; i < r->n; i++) {
            double d = r->value[(size_t)i * nspec + f] - m;
            s += d * d;
        }
        s = r->n > 1 ? sqrt(s / (r->n - 1)) : 0;
        char key[256];
        snprintf(key, sizeof key, "rewards/%s/mean", specs[f].name);
        json_object_set_new(obj, key, json_real(m));
        snprintf(key, sizeof key, "rewards/%s/std", specs[f].name);
        json_object_set_new(obj, key, json_real(s));
        if (!strcmp(specs[f].name, "execution_accuracy") && r->n > 0) {
            double acc = 0;
            for (int i = 0; i < r->n; i++)
                acc += r->raw[(size_t)i * nspec + f];
            json_object_set_new(obj, "sql_accuracy", json_real(acc / r->n));
        }
    }
}

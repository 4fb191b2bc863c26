/* rl/rewards: every built-in reward and verifier on hand-made episode
 * records, the distribution strategies, verifier penalties (subtracted,
 * never replacing the score), weighted totals, metrics and bad specs. */
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/rl/rewards.h"
#include "../test.h"

static void add_call(ep_episode *ep, int turn, const char *query, int executed, int is_error)
{
    ep->calls = xrealloc(ep->calls, sizeof(ep_call) * (size_t)(ep->n_calls + 1));
    ep_call *c = &ep->calls[ep->n_calls++];
    memset(c, 0, sizeof *c);
    c->turn = turn;
    c->name = xstrdup("execute_query");
    c->args = query ? json_pack("{ss}", "query", query) : NULL;
    c->raw = xstrdup("{}");
    c->result = xstrdup(is_error ? "Error: x" : "1");
    c->executed = executed;
    c->is_error = is_error;
    ep->n_call_errors += is_error;
}

/* A: 3 turns - a good call, a malformed one, then the answer.
 * B: 2 turns, a failing call, no answer. */
static void make_episodes(ep_episode *a, ep_episode *b)
{
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    add_call(a, 1, "SELECT 1", 1, 0);
    add_call(a, 2, NULL, 0, 1);
    a->final_sql = xstrdup("SELECT name FROM t");
    a->end = EP_END_ANSWER;
    a->turns = 3;
    a->n_model = 1024;
    add_call(b, 1, "SELECT nosuch FROM t", 1, 1);
    b->end = EP_END_MAX_STEPS;
    b->turns = 2;
    b->n_model = 100;
}

static int fake_exec(void *user, const rl_reward_task *task, const char *sql, int *ok, buf_t *msg,
                     err_t *e)
{
    (*(int *)user)++;
    if (strstr(sql, "unreachable"))
        return err_set(e, "database went away");
    *ok = !strstr(sql, "nosuch");
    return 0;
}

static int fake_score(void *user, const rl_reward_task *task, const char *sql, const json_t *params,
                      double *score, err_t *e)
{
    if (!json_is_object(params))
        return err_set(e, "params must be an object");
    *score = strcmp(sql, "SELECT name FROM t") == 0;
    return 0;
}

static char *make_db(void)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/r.sqlite", test_tmpdir());
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t(name TEXT)", NULL, NULL, NULL);
    sqlite3_close(db);
    return path;
}

TEST(rewards_builtin_scores)
{
    ep_episode a, b;
    make_episodes(&a, &b);
    int calls = 0;
    rl_reward_env env = {fake_exec, &calls, fake_score, NULL};
    rl_reward_task task = {"local001", make_db(), NULL};
    err_t e;
    struct {
        const char *name;
        const ep_episode *ep;
        int turn;
        double want;
    } cases[] = {
        {"execution_accuracy", &a, 0, 1}, {"execution_accuracy", &b, 0, 0},
        {"execution_accuracy", &a, 1, 0}, {"execution_accuracy", &a, 3, 1},
        {"sql_executes", &a, 0, 1},       {"sql_executes", &b, 0, 0},
        {"sql_executes", &b, 1, 0},       {"sql_executes", &a, 1, 1},
        {"sql_executes", &a, 2, 0},       {"sql_syntax_valid", &a, 0, 1},
        {"sql_syntax_valid", &a, 1, 1},   {"sql_syntax_valid", &b, 1, 0},
        {"format", &a, 0, 0},             {"format", &a, 1, 1},
        {"format", &a, 2, 0},             {"format", &a, 3, 1},
        {"format", &b, 0, 0},             {"tool_use", &a, 0, 1},
        {"tool_use", &b, 0, 0},           {"tool_use", &a, 1, 1},
        {"tool_use", &a, 2, 0},           {"efficiency", &b, 0, 0},
        /* 1 - 0.5 * 2/19 - 0.5 * 1024/4096 */
        {"efficiency", &a, 0, 1 - 0.5 * 2.0 / 19 - 0.125},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        double s = -9;
        CHECK_MSG(rl_reward_score(cases[i].name, NULL, &env, &task, cases[i].ep, cases[i].turn, &s,
                                  &e) == 0,
                  "%s: %s", cases[i].name, e.msg);
        CHECK_MSG(fabs(s - cases[i].want) < 1e-12, "case %zu %s turn %d: %g want %g", i,
                  cases[i].name, cases[i].turn, s, cases[i].want);
    }
    json_t *p = json_pack("{si}", "min_calls", 2);
    double s;
    CHECK(rl_reward_score("tool_use", p, &env, &task, &a, 0, &s, &e) == 0 && s == 0.5);
    json_decref(p);
    /* a clean episode A' (no malformed call) follows the format */
    a.calls[1].executed = 1;
    CHECK(rl_reward_score("format", NULL, &env, &task, &a, 0, &s, &e) == 0 && s == 1);
    CHECK(calls > 0);
    ep_episode_free(&a);
    ep_episode_free(&b);
}

TEST(rewards_sqlite_syntax)
{
    const char *db = make_db();
    int ok;
    buf_t msg;
    buf_init(&msg);
    err_t e;
    CHECK(rl_sqlite_syntax(db, "SELECT name FROM t WHERE name = 'x'", &ok, &msg, &e) == 0 && ok);
    CHECK(rl_sqlite_syntax(db, "SELEC name FROM t", &ok, &msg, &e) == 0 && !ok);
    CHECK_CONTAINS(msg.data, "syntax error");
    buf_reset(&msg);
    CHECK(rl_sqlite_syntax(db, "SELECT 1; DROP TABLE t", &ok, &msg, &e) == 0 && !ok);
    CHECK_CONTAINS(msg.data, "more than one statement");
    CHECK(rl_sqlite_syntax(db, "SELECT 1;  ", &ok, NULL, &e) == 0 && ok);
    /* prepare runs nothing: the table is still there */
    CHECK(rl_sqlite_syntax(db, "DROP TABLE t", &ok, NULL, &e) == 0 && ok);
    CHECK(rl_sqlite_syntax(db, "SELECT name FROM t", &ok, NULL, &e) == 0 && ok);
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/none/x.sqlite", test_tmpdir());
    CHECK(rl_sqlite_syntax(missing, "SELECT 1", &ok, NULL, &e) == -1);
    CHECK_CONTAINS(e.msg, "none/x.sqlite: cannot open the SQLite database");
    buf_free(&msg);
}

TEST(rewards_distribution_and_penalty)
{
    ep_episode a, b;
    make_episodes(&a, &b);
    ep_episode eps[2] = {a, b};
    int calls = 0;
    rl_reward_env env = {fake_exec, &calls, fake_score, NULL};
    rl_reward_task tasks[2] = {{"t1", make_db(), NULL}, {"t2", make_db(), NULL}};
    err_t e;
    rl_reward_result r;
    const double wants[3][3] = {{0, 0, 2}, {2.0 / 3, 2.0 / 3, 2.0 / 3}, {2, 2, 2}};
    for (int d = 0; d < 3; d++) {
        rl_reward_spec s = {.name = "execution_accuracy", .weight = 2.0, .dist = (rl_reward_dist)d};
        CHECK(rl_reward_batch(&s, 1, &env, tasks, eps, 2, &r, &e) == 0);
        CHECK(r.turn_off[1] == 3 && r.turn_off[2] == 5);
        for (int t = 0; t < 3; t++)
            CHECK_MSG(fabs(r.turn[t] - wants[d][t]) < 1e-12, "dist %d turn %d: %g", d, t, r.turn[t]);
        CHECK(r.turn[3] == 0 && r.turn[4] == 0);
        double sum = wants[d][0] + wants[d][1] + wants[d][2];
        CHECK(fabs(r.total[0] - sum) < 1e-12 && r.total[1] == 0);
        rl_reward_result_free(&r);
    }
    /* sql_accuracy: the raw scores' mean */
    rl_reward_spec acc = {.name = "execution_accuracy", .weight = 1, .dist = RL_DIST_ALL_STEPS_EQUAL};
    CHECK(rl_reward_batch(&acc, 1, &env, tasks, eps, 2, &r, &e) == 0);
    CHECK(r.raw[0] == 1 && r.raw[1] == 0 && r.value[0] == 3);
    json_t *am = json_object();
    rl_reward_metrics(&acc, 1, &r, am);
    CHECK(json_real_value(json_object_get(am, "sql_accuracy")) == 0.5);
    CHECK(json_real_value(json_object_get(am, "rewards/execution_accuracy/mean")) == 1.5);
    json_decref(am);
    rl_reward_result_free(&r);
    /* verifiers subtract: B (no answer) gets 0 - 0.5; A with a tool error
     * gets 1 - 0.5, still above B */
    const char *ver[] = {"has_answer", "no_tool_errors"};
    rl_reward_spec s = {.name = "execution_accuracy", .weight = 1, .verifiers = ver,
                        .n_verifiers = 2, .verifier_penalty = 0.5, .dist = RL_DIST_LAST_STEP};
    CHECK(rl_reward_batch(&s, 1, &env, tasks, eps, 2, &r, &e) == 0);
    CHECK_MSG(fabs(r.total[0] - 0.5) < 1e-12 && fabs(r.total[1] + 0.5) < 1e-12, "%g %g", r.total[0],
              r.total[1]);
    CHECK(r.verifier_failures == 2);
    rl_reward_result_free(&r);
    /* step rewards: every turn scored on its own, weights summed */
    rl_reward_spec two[2] = {
        {.name = "tool_use", .level = RL_REWARD_STEP, .weight = 1, .dist = RL_DIST_ALL_STEPS_EQUAL},
        {.name = "format", .level = RL_REWARD_STEP, .weight = 0.5, .dist = RL_DIST_ALL_STEPS_AVERAGE},
    };
    CHECK(rl_reward_batch(two, 2, &env, tasks, eps, 2, &r, &e) == 0);
    /* A: tool_use per turn 1,0,0; format per turn 1,0,1 averaged over 3 */
    CHECK(r.value[0] == 1 && fabs(r.value[1] - 2.0 / 3) < 1e-12);
    CHECK(fabs(r.total[0] - (1 + 0.5 * 2.0 / 3)) < 1e-12);
    CHECK(fabs(r.turn[0] - (1 + 0.5 / 3)) < 1e-12 && r.turn[1] == 0);
    /* B: its only call failed; turn 1's call is well-formed */
    CHECK(r.value[2] == 0 && fabs(r.value[3] - 0.5) < 1e-12);
    json_t *m = json_object();
    rl_reward_metrics(two, 2, &r, m);
    CHECK(fabs(json_real_value(json_object_get(m, "rewards/tool_use/mean")) - 0.5) < 1e-12);
    CHECK(fabs(json_real_value(json_object_get(m, "rewards/tool_use/std")) - sqrt(0.5)) < 1e-12);
    CHECK(json_object_get(m, "rewards/format/mean"));
    json_decref(m);
    rl_reward_result_free(&r);
    ep_episode_free(&a);
    ep_episode_free(&b);
}

TEST(rewards_hook_errors_and_missing_hooks)
{
    ep_episode a, b;
    make_episodes(&a, &b);
    rl_reward_task task = {"local009", NULL, NULL};
    err_t e;
    double s;
    CHECK(rl_reward_score("execution_accuracy", NULL, NULL, &task, &a, 0, &s, &e) == -1);
    CHECK_CONTAINS(e.msg, "execution_accuracy: no scorer was given for task local009");
    CHECK(rl_reward_score("sql_syntax_valid", NULL, NULL, &task, &a, 0, &s, &e) == -1);
    CHECK_CONTAINS(e.msg, "task local009 has no SQLite database");
    int calls = 0;
    rl_reward_env env = {fake_exec, &calls, NULL, NULL};
    free(a.final_sql);
    a.final_sql = xstrdup("SELECT unreachable");
    CHECK(rl_reward_score("sql_executes", NULL, &env, &task, &a, 0, &s, &e) == -1);
    CHECK_CONTAINS(e.msg, "database went away");
    rl_reward_spec sp = {.name = "sql_executes", .weight = 1};
    rl_reward_result r;
    CHECK(rl_reward_batch(&sp, 1, &env, &task, &a, 1, &r, &e) == -1);
    CHECK(r.total == NULL);
    ep_episode_free(&a);
    ep_episode_free(&b);
}

TEST(rewards_bad_specs)
{
    err_t e;
    rl_reward_spec s = {.name = "exec_accuracy", .weight = 1};
    CHECK(rl_reward_check(&s, "reward_setup.rollout_reward_configs.exec_accuracy", &e) == -1);
    CHECK_STR(e.msg, "reward_setup.rollout_reward_configs.exec_accuracy: unknown reward function "
                     "(known: execution_accuracy, sql_executes, sql_syntax_valid, format, tool_use, "
                     "efficiency)");
    s.name = "efficiency";
    s.level = RL_REWARD_STEP;
    CHECK(rl_reward_check(&s, "x", &e) == -1);
    CHECK_CONTAINS(e.msg, "list it under rollout_reward_configs");
    s.level = RL_REWARD_ROLLOUT;
    json_t *p = json_pack("{si}", "max_turn", 3);
    s.params = p;
    CHECK(rl_reward_check(&s, "r.efficiency", &e) == -1);
    CHECK_STR(e.msg, "r.efficiency.params.max_turn: unknown parameter of efficiency");
    json_decref(p);
    p = json_pack("{ss}", "max_turns", "3");
    s.params = p;
    CHECK(rl_reward_check(&s, "r.efficiency", &e) == -1);
    CHECK_STR(e.msg, "r.efficiency.params.max_turns: expected an integer");
    json_decref(p);
    s.params = NULL;
    const char *v[] = {"has_answer", "is_good"};
    s.verifiers = v;
    s.n_verifiers = 2;
    CHECK(rl_reward_check(&s, "r.efficiency", &e) == -1);
    CHECK_CONTAINS(e.msg, "r.efficiency.verifiers[1]: unknown verifier \"is_good\"");
    s.n_verifiers = 1;
    s.verifier_penalty = -1;
    CHECK(rl_reward_check(&s, "r", &e) == -1);
    CHECK_CONTAINS(e.msg, "r.verifier_penalty: must be a number >= 0");
    s.verifier_penalty = 0.5;
    CHECK(rl_reward_check(&s, "r", &e) == 0);
    rl_reward_dist d;
    CHECK(rl_reward_dist_parse("all_steps", &d) == -1);
    CHECK(rl_reward_dist_parse("all_steps_equal", &d) == 0 && d == RL_DIST_ALL_STEPS_EQUAL);
    /* execution_accuracy hands its params to the scorer unchecked */
    p = json_pack("{sb}", "strict", 1);
    rl_reward_spec x = {.name = "execution_accuracy", .weight = 1, .params = p};
    CHECK(rl_reward_check(&x, "r", &e) == 0);
    json_decref(p);
}

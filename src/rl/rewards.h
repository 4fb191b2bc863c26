/* rl/rewards: the reward registry, verifiers, distribution over turns and
 * the weighted total of training.md. Prefix rl_reward_ (rl_verifier_ for
 * the checks).
 *
 * A reward function scores a finished episode (a rollout reward: turn 0)
 * or one model turn of it (a step reward: turn 1..ep->turns), reading its
 * params. Every score is a number (most are in [0, 1]).
 *
 * Built-in rewards (name: what scores 1; params):
 *   execution_accuracy  the final SQL's result matches the gold result, by
 *                       the scorer the caller gives (rl_reward_env.score:
 *                       Spider 2.0's rule); no final SQL scores 0. A step
 *                       reward scores the turn that gave the answer.
 *                       params: passed to the scorer as they are.
 *   sql_executes        the SQL runs without error (rl_reward_env.exec).
 *                       Rollout: the final SQL; step: the turn's query (its
 *                       execute_query call, or its answer). No SQL: 0.
 *   sql_syntax_valid    the SQL prepares on the task's SQLite database
 *                       (sqlite3_prepare_v2 on a read-only connection: no
 *                       statement is run); same SQL as sql_executes.
 *   format              rollout: the episode ended with <answer> holding
 *                       SQL and no action was malformed (every tool call
 *                       parsed and named a known tool); step: the turn made
 *                       a well-formed tool call or gave the answer.
 *   tool_use            tool calls that really ran and succeeded (not
 *                       keywords in the text). Rollout: min(1, successful
 *                       calls / min_calls); step: 1 if the turn's call ran
 *                       and succeeded. params: min_calls (default 1).
 *   efficiency          fewer turns and tokens, for an answered episode
 *                       (0 without an answer): 1 - turn_weight * (turns - 1)
 *                       / max(1, max_turns - 1) - (1 - turn_weight) *
 *                       model_tokens / max_tokens, clipped to [0, 1]. params:
 *                       max_turns (20), max_tokens (4096), turn_weight (0.5).
 *                       Rollout only.
 *
 * Verifiers (named checks run before a reward; when one fails the reward is
 * the base score minus verifier_penalty - never replaced by it - once,
 * however many of its verifiers fail):
 *   has_answer        the episode gave an answer with SQL (rollout) / the
 *                     turn did (step)
 *   format, sql_syntax_valid, sql_executes, tool_use
 *                     pass when the reward of that name scores 1 (its
 *                     default params)
 *   no_tool_errors    no tool call of the episode (or turn) got an error
 *
 * Distribution over turns (an episode of N model turns; s_t is the score of
 * turn t: the rollout score on every turn, or the step reward's own):
 *   last_step          turn N gets s_N, the others 0
 *   all_steps_average  every turn t gets s_t / N
 *   all_steps_equal    every turn t gets s_t
 * The episode's reward for GRPO is the weighted sum over functions of the
 * sum over turns. */
#ifndef RETRAIN_RL_REWARDS_H
#define RETRAIN_RL_REWARDS_H

#include <jansson.h>

#include "../base/base.h"
#include "../env/episode.h"

typedef enum rl_reward_level { RL_REWARD_ROLLOUT, RL_REWARD_STEP } rl_reward_level;
typedef enum rl_reward_dist {
    RL_DIST_LAST_STEP,
    RL_DIST_ALL_STEPS_AVERAGE,
    RL_DIST_ALL_STEPS_EQUAL
} rl_reward_dist;

/* "last_step", "all_steps_average", "all_steps_equal"; -1 otherwise. */
int rl_reward_dist_parse(const char *s, rl_reward_dist *out);
const char *rl_reward_dist_name(rl_reward_dist d);

/* ---- what the scorers need from outside (the environment provides them) */

typedef struct rl_reward_task {
    const char *id;          /* instance_id, for messages */
    const char *sqlite_path; /* the task's SQLite database file, or NULL */
    const void *user;        /* anything the hooks need (gold result, ...) */
} rl_reward_task;

/* Runs sql against the task's database: *ok = 1 when it ran without
 * error (*ok = 0 and, optionally, the error text in msg otherwise).
 * Returns 0, or -1 with e when the database cannot be reached at all. */
typedef int (*rl_reward_exec_fn)(void *user, const rl_reward_task *task, const char *sql, int *ok,
                                 buf_t *msg, err_t *e);
/* Scores sql against the task's gold result: *score in [0, 1]. params is
 * the reward's params object (never NULL). Returns 0, or -1 with e. */
typedef int (*rl_reward_score_fn)(void *user, const rl_reward_task *task, const char *sql,
                                  const json_t *params, double *score, err_t *e);

typedef struct rl_reward_env {
    rl_reward_exec_fn exec;
    void *exec_user;
    rl_reward_score_fn score;
    void *score_user;
} rl_reward_env;

/* ---- one configured reward (reward_setup.*_reward_configs.NAME) */

typedef struct rl_reward_spec {
    const char *name;
    rl_reward_level level;
    double weight;
    const json_t *params;       /* an object, or NULL for {} */
    const char *const *verifiers;
    int n_verifiers;
    double verifier_penalty;
    rl_reward_dist dist;
} rl_reward_spec;

/* 1 if name is a built-in reward (at that level), 0 otherwise. */
int rl_reward_known(const char *name, rl_reward_level level);
int rl_verifier_known(const char *name);
/* The names, comma-separated, for messages. */
const char *rl_reward_names(void);
const char *rl_verifier_names(void);
/* Checks a spec (name, level, params' names and types, verifiers);
 * messages start with `where` (the key path of the spec). */
int rl_reward_check(const rl_reward_spec *s, const char *where, err_t *e);

/* The raw score of one function on one episode (turn 0) or turn. */
int rl_reward_score(const char *name, const json_t *params, const rl_reward_env *env,
                    const rl_reward_task *task, const ep_episode *ep, int turn, double *score,
                    err_t *e);
/* 1 if the verifier passes on the episode (turn 0) or turn, 0 if not. */
int rl_verifier_run(const char *name, const rl_reward_env *env, const rl_reward_task *task,
                    const ep_episode *ep, int turn, int *pass, err_t *e);

/* ---- scoring a batch of episodes with a set of specs */

typedef struct rl_reward_result {
    int n, nfunc;
    double *total;      /* [n] the episode's reward: sum over functions of weight * value */
    double *value;      /* [n * nfunc] each function's unweighted value of episode i
                           (sum over its turns, penalties included) */
    double *raw;        /* [n * nfunc] the function's own score before penalties and
                           distribution (rollout: the episode's; step: mean over turns) */
    double *turn;       /* [sum of turns] the weighted reward of each turn, episode
                           after episode (turn_off[i] is where episode i starts) */
    int *turn_off;      /* [n + 1] */
    long verifier_failures; /* scores that had a penalty subtracted */
} rl_reward_result;

/* Scores n episodes: tasks[i] is episode i's task. Every spec must have
 * passed rl_reward_check. out is filled (free with rl_reward_result_free). */
int rl_reward_batch(const rl_reward_spec *specs, int nspec, const rl_reward_env *env,
                    const rl_reward_task *tasks, const ep_episode *eps, int n,
                    rl_reward_result *out, err_t *e);
void rl_reward_result_free(rl_reward_result *r);

/* Adds "rewards/<name>/mean" and "rewards/<name>/std" (torch.std: Bessel-
 * corrected; 0 for one episode) of every function to obj, and the guide's
 * "sql_accuracy" (the mean raw execution_accuracy score) when that
 * function is among the specs. */
void rl_reward_metrics(const rl_reward_spec *specs, int nspec, const rl_reward_result *r,
                       json_t *obj);

/* ---- helpers shared with the metrics */

/* The SQL of a turn: its execute_query call's "query" argument, or the
 * final SQL when the turn gave the answer; turn 0: the final SQL. NULL if
 * none. Borrowed from ep. */
const char *rl_turn_sql(const ep_episode *ep, int turn);
/* Tool calls that ran and succeeded (in one turn, or all for turn 0). */
int rl_successful_calls(const ep_episode *ep, int turn);

/* Syntax check on a SQLite file: *ok = 1 if sql prepares; msg (may be
 * NULL) gets SQLite's message otherwise. -1 with e when the file cannot be
 * opened. */
int rl_sqlite_syntax(const char *db_path, const char *sql, int *ok, buf_t *msg, err_t *e);

#endif

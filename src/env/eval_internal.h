/* env/eval internals: the evaluation loop shared by the scoring of a SQL
 * folder and of a model's episodes. */
#ifndef RETRAIN_ENV_EVAL_INTERNAL_H
#define RETRAIN_ENV_EVAL_INTERNAL_H

#include "env.h"
#include "episode.h"

/* One task's prediction. */
typedef struct eval_pred {
    char *sql;    /* the SQL to run, or NULL: none (error says why) */
    char *error;  /* why there is no SQL */
    json_t *info; /* members added to the task's result (turns, end ...), or NULL */
} eval_pred;

/* Where predictions come from. */
typedef struct eval_source {
    void *ctx;
    /* Why task t has no prediction to score (a skip reason), or NULL. */
    const char *(*skip)(void *ctx, const env_task *t);
    /* Fills out[0..n) for tasks[0..n) (out zeroed by the caller). -1 with
     * e stops the run. */
    int (*predict)(void *ctx, const env_task *const *tasks, size_t n, eval_pred *out, err_t *e);
    size_t batch; /* tasks per predict call, >= 1 */
    /* Adds the source's own members to the finished report, or NULL. */
    void (*finish)(void *ctx, json_t *report);
    const char *label; /* the progress bar's */
} eval_source;

/* Selects the tasks (id order; skipped ones counted by reason; at most
 * o->limit when set), loads their gold, asks src for predictions batch by
 * batch, writes <id>.sql, runs it through x, writes <id>.csv, scores,
 * writes report.json and report.md. The report, or NULL with e. */
json_t *eval_run(const env_tasks *ts, const env_gold *g, env_executor *x, const env_eval_opts *o,
                 const eval_source *src, err_t *e);

#endif

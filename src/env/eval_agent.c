/* Evaluation of an agent: each task's episode (prompt with its database's
 * MCP tools, turns sampled by the policy, tool calls through MCP) gives
 * the SQL to score; the episodes of a batch of tasks step together. */
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"

typedef struct agent_src {
    const env_agent *a;
    const char *out_dir;
    ep_task *tasks;   /* [batch] the batch's tasks that run */
    size_t *slot;     /* [batch] the index in the batch of each of them */
    ep_episode *eps;  /* [batch] */
    /* totals over the run */
    long episodes, turns, with_tools, calls, call_errors, answered, sql_errors, model_tokens;
    double gen_ms, tool_ms;
    json_t *ends;
} agent_src;

static void count_end(json_t *ends, const char *name)
{
    json_t *v = json_object_get(ends, name);
    json_object_set_new(ends, name, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static int write_episode(const char *dir, const char *id, const ep_episode *ep, err_t *e)
{
    buf_t path, text;
    buf_init(&path);
    buf_init(&text);
    buf_printf(&path, "%s/episodes", dir);
    int rc = dir_make(path.data, e);
    if (rc == 0) {
        buf_printf(&path, "/%s.txt", id);
        ep_format(ep, &text);
        rc = file_write_atomic(path.data, text.data ? text.data : "", text.len, e);
    }
    buf_free(&path);
    buf_free(&text);
    return rc;
}

static int agent_predict(void *ctx, const env_task *const *tasks, size_t n, eval_pred *out,
                         err_t *e)
{
    agent_src *s = ctx;
    const env_agent *a = s->a;
    size_t nrun = 0;
    for (size_t i = 0; i < n; i++) {
        const env_task *t = tasks[i];
        const env_tools *tools;
        if (env_mcp_tools(a->mcp, t->db, &tools, e) != 0)
            return -1;
        ep_task et = {.id = t->instance_id,
                      .question = t->question,
                      .db = t->db,
                      .knowledge = t->knowledge,
                      .tools = tools};
        /* A prompt that cannot fit is this task's failure, not the run's. */
        ep_prompt pr;
        err_t pe;
        if (ep_prompt_build(a->ep, a->tok, tools, &et, &pr, &pe) != 0) {
            buf_t m;
            buf_init(&m);
            buf_printf(&m, "no episode: %s", pe.msg);
            out[i].error = buf_take(&m);
            out[i].info = json_pack("{s:i, s:i, s:i, s:s, s:s, s:i}", "turns", 0, "tool_calls", 0,
                                    "tool_errors", 0, "end", "prompt_too_long", "end_detail",
                                    pe.msg, "model_tokens", 0);
            s->episodes++;
            count_end(s->ends, "prompt_too_long");
            continue;
        }
        ep_prompt_free(&pr);
        s->slot[nrun] = i;
        s->tasks[nrun++] = et;
    }
    if (nrun == 0)
        return 0;
    ep_run_stats st;
    if (ep_run(a->ep, a->tok, NULL, a->policy, s->tasks, (int)nrun, 1, s->eps, &st, e) != 0)
        return -1;
    s->gen_ms += st.gen_ms;
    s->tool_ms += st.tool_ms;
    s->model_tokens += st.model_tokens;
    int rc = 0;
    for (size_t k = 0; k < nrun; k++) {
        size_t i = s->slot[k];
        ep_episode *ep = &s->eps[k];
        const char *end = ep_end_name(ep->end);
        if (ep->final_sql) {
            out[i].sql = xstrdup(ep->final_sql);
            s->answered++;
        } else {
            buf_t m;
            buf_init(&m);
            buf_printf(&m, "no answer: %s", end);
            if (ep->end_detail)
                buf_printf(&m, " (%s)", ep->end_detail);
            out[i].error = buf_take(&m);
        }
        out[i].info = json_pack("{s:i, s:i, s:i, s:s, s:s?, s:i}", "turns", ep->turns,
                                "tool_calls", ep->n_calls, "tool_errors", ep->n_call_errors,
                                "end", end, "end_detail", ep->end_detail, "model_tokens",
                                ep->n_model);
        s->episodes++;
        s->turns += ep->turns;
        s->with_tools += ep->n_calls > 0;
        s->calls += ep->n_calls;
        s->call_errors += ep->n_call_errors;
        count_end(s->ends, end);
        if (rc == 0 && a->keep_episodes)
            rc = write_episode(s->out_dir, tasks[i]->instance_id, ep, e);
        ep_episode_free(ep);
    }
    return rc;
}

static void agent_finish(void *ctx, json_t *report)
{
    agent_src *s = ctx;
    /* answers whose SQL did not run (eval_run marks them) */
    s->sql_errors = 0;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(report, "results"), i, r)
    {
        s->sql_errors += json_is_true(json_object_get(r, "sql_failed"));
    }
    double ne = s->episodes ? (double)s->episodes : 1;
    json_object_set_new(report, "model", json_string(s->a->model ? s->a->model : "(policy)"));
    json_object_set_new(
        report, "agent",
        json_pack("{s:f, s:f, s:i, s:i, s:f, s:i, s:i, s:i, s:O, s:i, s:f, s:f, s:s, s:s, s:i}",
                  "mean_turns", (double)s->turns / ne, "tool_use_rate",
                  (double)s->with_tools / ne, "tool_calls", s->calls, "tool_errors",
                  s->call_errors, "tool_error_rate",
                  s->calls ? (double)s->call_errors / (double)s->calls : 0.0, "answered",
                  s->answered, "no_answer", s->episodes - s->answered, "sql_errors",
                  s->sql_errors, "ends", s->ends, "model_tokens", s->model_tokens,
                  "generation_s", s->gen_ms / 1000, "tool_s", s->tool_ms / 1000, "wire",
                  ep_wire_name(s->a->ep->wire), "chat_format", chat_format_name(s->a->ep->chat),
                  "max_steps", s->a->ep->max_steps));
}

json_t *env_eval_agent(const env_tasks *ts, const env_gold *g, env_executor *x,
                       const env_agent *a, const env_eval_opts *o, err_t *e)
{
    if (!a->ep || !a->tok || !a->policy || !a->mcp) {
        err_set(e, "eval: the agent needs an episode config, a tokenizer, a policy and MCP tools");
        return NULL;
    }
    if (ep_config_check(a->ep, e) != 0)
        return NULL;
    size_t batch = a->batch > 0 ? (size_t)a->batch : 1;
    agent_src s = {.a = a, .out_dir = o->out_dir};
    s.tasks = xcalloc(batch, sizeof *s.tasks);
    s.eps = xcalloc(batch, sizeof *s.eps);
    s.slot = xcalloc(batch, sizeof *s.slot);
    s.ends = json_object();
    eval_source src = {.ctx = &s, .predict = agent_predict, .batch = batch,
                       .finish = agent_finish, .label = "eval"};
    json_t *report = eval_run(ts, g, x, o, &src, e);
    json_decref(s.ends);
    free(s.tasks);
    free(s.eps);
    free(s.slot);
    return report;
}

/* env/episode: running episodes - the turn loop, the parsing of the
 * model's actions, the tool calls and the token record. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

static const char *const g_end_names[] = {
    [EP_END_RUNNING] = "running",     [EP_END_ANSWER] = "answer",
    [EP_END_MAX_STEPS] = "max_steps", [EP_END_NO_ACTION] = "no_action",
    [EP_END_TURN_LIMIT] = "turn_limit", [EP_END_BUDGET] = "budget",
    [EP_END_TOOL_FAILURE] = "tool_failure",
};

const char *ep_end_name(ep_end r)
{
    return (size_t)r < ARRAY_LEN(g_end_names) ? g_end_names[r] : "unknown";
}

/* ---- the record */

void ep_episode_free(ep_episode *ep)
{
    if (!ep)
        return;
    free(ep->tokens);
    free(ep->from_model);
    free(ep->logprobs);
    buf_free(&ep->text);
    free(ep->segs);
    for (int i = 0; i < ep->n_calls; i++) {
        ep_call *c = &ep->calls[i];
        free(c->name);
        json_decref(c->args);
        free(c->raw);
        free(c->result);
    }
    free(ep->calls);
    free(ep->final_sql);
    free(ep->end_detail);
    memset(ep, 0, sizeof *ep);
}

/* Appends n tokens of one origin (lps: their log-probabilities, model
 * tokens only), their bytes to the text, and extends or opens a segment. */
static void ep_push(ep_episode *ep, const tok_t *t, const int32_t *ids, const float *lps, int n,
                    ep_seg_kind kind, int turn)
{
    if (n <= 0)
        return;
    if (ep->n_tokens + n > ep->cap_tokens) {
        int nc = ep->cap_tokens * 2 + n + 256;
        ep->tokens = xrealloc(ep->tokens, (size_t)nc * sizeof *ep->tokens);
        ep->from_model = xrealloc(ep->from_model, (size_t)nc * sizeof *ep->from_model);
        ep->logprobs = xrealloc(ep->logprobs, (size_t)nc * sizeof *ep->logprobs);
        ep->cap_tokens = nc;
    }
    size_t byte0 = ep->text.len;
    for (int i = 0; i < n; i++) {
        int at = ep->n_tokens + i;
        ep->tokens[at] = ids[i];
        ep->from_model[at] = kind == EP_SEG_MODEL;
        ep->logprobs[at] = kind == EP_SEG_MODEL && lps ? lps[i] : 0.0f;
        tok_token_bytes(t, ids[i], &ep->text);
    }
    ep_segment *last = ep->n_segs ? &ep->segs[ep->n_segs - 1] : NULL;
    if (last && last->kind == kind && last->turn == turn) {
        last->ntok += n;
        last->nbytes += ep->text.len - byte0;
    } else {
        if (ep->n_segs == ep->cap_segs) {
            ep->cap_segs = ep->cap_segs * 2 + 8;
            ep->segs = xrealloc(ep->segs, (size_t)ep->cap_segs * sizeof *ep->segs);
        }
        ep->segs[ep->n_segs++] = (ep_segment){.kind = kind, .turn = turn, .tok0 = ep->n_tokens,
                                              .ntok = n, .byte0 = byte0,
                                              .nbytes = ep->text.len - byte0};
    }
    ep->n_tokens += n;
    if (kind == EP_SEG_MODEL)
        ep->n_model += n;
    else if (kind == EP_SEG_ENV)
        ep->n_env += n;
}

static ep_call *ep_add_call(ep_episode *ep, int turn)
{
    if (ep->n_calls == ep->cap_calls) {
        ep->cap_calls = ep->cap_calls * 2 + 4;
        ep->calls = xrealloc(ep->calls, (size_t)ep->cap_calls * sizeof *ep->calls);
    }
    ep_call *c = &ep->calls[ep->n_calls++];
    memset(c, 0, sizeof *c);
    c->turn = turn;
    return c;
}

static void ep_finish(ep_episode *ep, ep_end why, const char *detail)
{
    ep->end = why;
    free(ep->end_detail);
    ep->end_detail = detail ? xstrdup(detail) : NULL;
}

/* ---- parsing the model's turn */

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* s[a, b) without surrounding ASCII white space, as a new string. */
static char *trim_dup(const char *s, size_t a, size_t b)
{
    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    return xstrndup(s + a, b - a);
}

/* Last occurrence of needle starting before `end`, or NULL. */
static const char *last_before(const char *s, const char *end, const char *needle)
{
    const char *last = NULL;
    size_t n = strlen(needle);
    for (const char *p = s; (p = strstr(p, needle)) && p + n <= end; p++)
        last = p;
    return last;
}

/* The SQL of an answer: trimmed, a Markdown code fence around it removed
 * ("```sql\n...\n```" or "```...```"). */
static char *answer_sql(const char *s, size_t a, size_t b)
{
    char *sql = trim_dup(s, a, b);
    size_t len = strlen(sql);
    if (len < 3 || !str_starts(sql, "```"))
        return sql;
    size_t from = 3, to = len;
    if (to >= 6 && str_ends(sql, "```"))
        to -= 3;
    const char *nl = to > from ? memchr(sql + from, '\n', to - from) : NULL;
    if (nl) /* the fence's first line names the language */
        from = (size_t)(nl - sql) + 1;
    char *inner = trim_dup(sql, from, to > from ? to : from);
    free(sql);
    return inner;
}

static size_t char_count(const char *s)
{
    size_t n = strlen(s);
    return utf8_valid(s, n) ? utf8_count(s, n) : n;
}

/* What one turn asked for. */
typedef enum { ACT_NONE, ACT_ANSWER, ACT_CALL } act_kind;

typedef struct run_ctx {
    const ep_config *c;
    const tok_t *t;
    const env_tools *tools; /* the run's; a task's own win (task_tools) */
    const ep_task *tasks;
    ep_run_stats *stats;
    /* the chat format's pieces of a reply (see env_reply), made once */
    buf_t close, pre, post, eot_bytes;
    int32_t eot;
} run_ctx;

static const env_tools *task_tools(const run_ctx *r, int task)
{
    return r->tasks[task].tools ? r->tasks[task].tools : r->tools;
}

/* Looks up and runs one tool call from the text between the tags with the
 * tools ts; fills call (result, is_error ...). Returns 0, or -1 when the
 * tools could not be reached (the message in e). */
static int do_call(run_ctx *r, const env_tools *ts, ep_call *call, const char *raw, err_t *e)
{
    const ep_config *c = r->c;
    buf_t res;
    buf_init(&res);
    json_error_t je;
    json_t *v = json_loads(raw, JSON_DECODE_ANY, &je);
    const char *args_key = c->wire == EP_WIRE_HERMES ? "arguments" : "args";
    int rc = 0;
    if (!v) {
        buf_printf(&res, "Error: the tool call is not valid JSON: %s (line %d, column %d)", je.text,
                   je.line, je.column);
        goto refused;
    }
    if (!json_is_object(v)) {
        buf_printf(&res, "Error: the tool call must be a JSON object: {\"name\": ..., \"%s\": {...}}",
                   args_key);
        goto refused;
    }
    json_t *name = json_object_get(v, "name");
    if (!json_is_string(name) || !*json_string_value(name)) {
        buf_printf(&res, "Error: the tool call has no \"name\": write {\"name\": ..., \"%s\": {...}}",
                   args_key);
        goto refused;
    }
    call->name = xstrdup(json_string_value(name));
    json_t *args = json_object_get(v, "arguments");
    const char *key = "arguments";
    if (!args) {
        args = json_object_get(v, "args");
        key = "args";
    }
    if (!args || json_is_null(args)) {
        call->args = json_object();
    } else if (json_is_string(args)) {
        /* arguments written as the JSON text of an object */
        json_t *inner = json_loads(json_string_value(args), 0, NULL);
        if (json_is_object(inner))
            call->args = inner;
        else
            json_decref(inner);
    } else if (json_is_object(args)) {
        call->args = json_incref(args);
    }
    if (!call->args) {
        buf_printf(&res, "Error: \"%s\" must be a JSON object", key);
        goto refused;
    }
    const env_tool *tool = NULL;
    for (int i = 0; ts && i < ts->n; i++)
        if (!strcmp(ts->tools[i].name, call->name))
            tool = &ts->tools[i];
    if (!tool) {
        buf_printf(&res, "Error: unknown tool \"%s\"; the tools are:", call->name);
        for (int i = 0; ts && i < ts->n; i++)
            buf_printf(&res, "%s %s", i ? "," : "", ts->tools[i].name);
        goto refused;
    }
    json_t *q = json_object_get(call->args, "query");
    size_t qlen = json_is_string(q) ? char_count(json_string_value(q)) : 0;
    if (c->max_query_length > 0 && qlen > (size_t)c->max_query_length) {
        buf_printf(&res, "Error: the query is %zu characters long; the limit is %d. It was not run.",
                   qlen, c->max_query_length);
        goto refused;
    }
    int is_error = 0;
    buf_t text;
    buf_init(&text);
    uint64_t t0 = time_now_ns();
    rc = ts->call(ts->user, tool->name, call->args, &text, &is_error, e);
    call->ms = (double)(time_now_ns() - t0) / 1e6;
    if (r->stats)
        r->stats->tool_ms += call->ms;
    call->executed = 1;
    if (rc != 0) {
        is_error = 1;
        buf_reset(&text);
        buf_puts(&text, e->msg);
    }
    if (is_error && !str_starts(text.data ? text.data : "", "Error:"))
        buf_puts(&res, "Error: ");
    buf_append(&res, text.data ? text.data : "", text.len);
    buf_free(&text);
    call->is_error = is_error;
    goto out;
refused:
    call->is_error = 1;
out:
    json_decref(v);
    call->result = buf_take(&res);
    return rc;
}

/* Appends the environment's reply after a model turn: the turn's close,
 * the result inside the wire format's tags as a user message, the next
 * generation prompt. Ends the episode instead when it would overrun the
 * budget. *remaining: completion tokens left. */
static int env_reply(run_ctx *r, ep_episode *ep, const char *result, int *remaining, err_t *e)
{
    const tok_t *t = r->t;
    const char *open_tag, *close_tag;
    ep_result_tags(r->c->wire, &open_tag, &close_tag);
    int32_t *ids = NULL;
    int n = 0, cap = 0, rc = -1;
    const char *cl = r->close.data;
    size_t cl_len = r->close.len;
    if (r->eot >= 0 && ep->n_tokens > 0 && ep->tokens[ep->n_tokens - 1] == r->eot &&
        cl_len >= r->eot_bytes.len && !memcmp(cl, r->eot_bytes.data, r->eot_bytes.len)) {
        /* the model closed its turn itself: only what follows the token */
        cl += r->eot_bytes.len;
        cl_len -= r->eot_bytes.len;
    }
    /* The wrappers are the chat format's and ours (special tokens count);
     * the result is data: a special token's text in it stays text. */
    if (ep_encode_append(t, cl, cl_len, 1, &ids, &n, &cap, e) != 0 ||
        ep_encode_append(t, r->pre.data, r->pre.len, 1, &ids, &n, &cap, e) != 0 ||
        ep_encode_append(t, open_tag, strlen(open_tag), 1, &ids, &n, &cap, e) != 0 ||
        ep_encode_append(t, result, strlen(result), 0, &ids, &n, &cap, e) != 0 ||
        ep_encode_append(t, close_tag, strlen(close_tag), 1, &ids, &n, &cap, e) != 0 ||
        ep_encode_append(t, r->post.data, r->post.len, 1, &ids, &n, &cap, e) != 0)
        goto done;
    rc = 0;
    if (n > *remaining) {
        char why[160];
        snprintf(why, sizeof why, "the tool result (%d tokens) does not fit in the %d tokens left", n,
                 *remaining);
        ep_finish(ep, EP_END_BUDGET, why);
        goto done;
    }
    ep_push(ep, t, ids, NULL, n, EP_SEG_ENV, ep->turns);
    *remaining -= n;
    if (*remaining == 0)
        ep_finish(ep, EP_END_BUDGET, "the completion budget is spent");
done:
    free(ids);
    return rc;
}

/* Handles the turn just appended (segment seg, n_out tokens of max_new):
 * parse, act, reply. Returns -1 only for an encoding failure. */
static int handle_turn(run_ctx *r, ep_episode *ep, const ep_segment *seg, int max_new, int *remaining,
                       err_t *e)
{
    const ep_config *c = r->c;
    const char *s = ep->text.data + seg->byte0;
    size_t len = seg->nbytes;
    char *turn = xstrndup(s, len); /* a NUL in the text ends the search there */
    const char *tclose = strstr(turn, ep_tool_close(c->wire));
    const char *aclose = strstr(turn, EP_ANSWER_CLOSE);
    act_kind act = ACT_NONE;
    if (aclose && (!tclose || aclose < tclose))
        act = ACT_ANSWER;
    else if (tclose)
        act = ACT_CALL;
    char *result = NULL;
    int rc = 0;
    if (act == ACT_ANSWER) {
        const char *open = last_before(turn, aclose, EP_ANSWER_OPEN);
        if (!open) {
            result = xstrdup("Error: </answer> without <answer>: write <answer>SQL</answer>");
            ep->n_refused_answers++;
        } else {
            size_t a = (size_t)(open - turn) + strlen(EP_ANSWER_OPEN), b = (size_t)(aclose - turn);
            char *sql = answer_sql(turn, a, b);
            size_t qlen = char_count(sql);
            if (c->max_query_length > 0 && qlen > (size_t)c->max_query_length) {
                buf_t m;
                buf_init(&m);
                buf_printf(&m, "Error: the answer's SQL is %zu characters long; the limit is %d",
                           qlen, c->max_query_length);
                result = buf_take(&m);
                ep->n_refused_answers++;
                free(sql);
            } else {
                ep->final_sql = sql;
                ep_finish(ep, EP_END_ANSWER, NULL);
                free(turn);
                return 0;
            }
        }
    } else if (act == ACT_CALL) {
        const char *topen = ep_tool_open(c->wire);
        const char *open = last_before(turn, tclose, topen);
        ep_call *call = ep_add_call(ep, ep->turns);
        if (!open) {
            call->raw = xstrdup("");
            buf_t m;
            buf_init(&m);
            buf_printf(&m, "Error: %s without %s: write %s{\"name\": ..., \"%s\": {...}}%s",
                       ep_tool_close(c->wire), topen, topen,
                       c->wire == EP_WIRE_HERMES ? "arguments" : "args", ep_tool_close(c->wire));
            call->result = buf_take(&m);
            call->is_error = 1;
        } else {
            call->raw = trim_dup(turn, (size_t)(open - turn) + strlen(topen), (size_t)(tclose - turn));
            err_t te = {{0}};
            if (do_call(r, task_tools(r, ep->task), call, call->raw, &te) != 0) {
                ep->n_call_errors++;
                ep_finish(ep, EP_END_TOOL_FAILURE, te.msg);
                free(turn);
                return 0;
            }
        }
        if (call->is_error)
            ep->n_call_errors++;
        result = xstrdup(call->result);
    } else {
        int32_t last = ep->tokens[ep->n_tokens - 1];
        ep_end why;
        char detail[200];
        if (tok_is_special(r->t, last) || seg->ntok < max_new) {
            why = EP_END_NO_ACTION;
            snprintf(detail, sizeof detail, "turn %d ended with neither a tool call nor an answer",
                     ep->turns);
        } else if (max_new < c->max_turn_tokens) {
            why = EP_END_BUDGET;
            snprintf(detail, sizeof detail, "the completion budget ran out in turn %d", ep->turns);
        } else {
            why = EP_END_TURN_LIMIT;
            snprintf(detail, sizeof detail,
                     "turn %d reached max_turn_tokens (%d) with neither a tool call nor an answer",
                     ep->turns, c->max_turn_tokens);
        }
        if (why == EP_END_BUDGET || !c->continue_without_action) {
            ep_finish(ep, why, detail);
            free(turn);
            return 0;
        }
        buf_t m;
        buf_init(&m);
        buf_printf(&m, "Error: no tool call and no answer. Call a tool with %s{\"name\": ..., \"%s\": "
                       "{...}}%s or answer with <answer>SQL</answer>.",
                   ep_tool_open(c->wire), c->wire == EP_WIRE_HERMES ? "arguments" : "args",
                   ep_tool_close(c->wire));
        result = buf_take(&m);
    }
    free(turn);
    if (ep->turns >= c->max_steps) {
        char detail[120];
        snprintf(detail, sizeof detail, "%d turns without an answer", ep->turns);
        ep_finish(ep, EP_END_MAX_STEPS, detail);
    } else if (*remaining == 0) {
        ep_finish(ep, EP_END_BUDGET, "the completion budget is spent");
    } else {
        rc = env_reply(r, ep, result, remaining, e);
    }
    free(result);
    return rc;
}

/* ---- the run */

static void log_episode(const ep_episode *ep)
{
    if (log_get_level() > LOG_DEBUG)
        return;
    buf_t b;
    buf_init(&b);
    ep_format(ep, &b);
    log_debug("episode %d.%d\n%s", ep->task, ep->sample, b.data ? b.data : "");
    buf_free(&b);
}

int ep_run(const ep_config *c, const tok_t *t, const env_tools *tools, const ep_policy *p,
           const ep_task *tasks, int n_tasks, int G, ep_episode *out, ep_run_stats *stats,
           err_t *e)
{
    if (ep_config_check(c, e) != 0)
        return -1;
    if (n_tasks < 1 || G < 1)
        return err_set(e, "episode: %d tasks x %d samples: both must be at least 1", n_tasks, G);
    if (!p || !p->generate)
        return err_set(e, "episode: no policy to generate with");
    if (tools && tools->n > 0 && !tools->call)
        return err_set(e, "episode: the tool set has no call function");
    for (int k = 0; k < n_tasks; k++)
        if (tasks[k].tools && tasks[k].tools->n > 0 && !tasks[k].tools->call)
            return err_set(e, "episode: task %s: its tool set has no call function",
                           tasks[k].id ? tasks[k].id : "?");
    int N = n_tasks * G;
    memset(out, 0, sizeof *out * (size_t)N);
    if (stats)
        memset(stats, 0, sizeof *stats);
    int *remaining = xcalloc((size_t)N, sizeof *remaining);
    ep_gen_req *reqs = xcalloc((size_t)N, sizeof *reqs);
    int32_t *tokbuf = NULL;
    float *lpbuf = NULL;
    int rc = -1;
    run_ctx r = {.c = c, .t = t, .tools = tools, .tasks = tasks, .stats = stats};
    buf_init(&r.close);
    buf_init(&r.pre);
    buf_init(&r.post);
    buf_init(&r.eot_bytes);
    ep_turn_close(c->chat, t, &r.close, &r.eot);
    ep_user_block(c->chat, t, &r.pre, &r.post);
    if (r.eot >= 0)
        tok_token_bytes(t, r.eot, &r.eot_bytes);
    for (int k = 0; k < n_tasks; k++) {
        ep_prompt pr;
        if (ep_prompt_build(c, t, tasks[k].tools ? tasks[k].tools : tools, &tasks[k], &pr, e) != 0)
            goto fail;
        for (int g = 0; g < G; g++) {
            ep_episode *ep = &out[k * G + g];
            ep->task = k;
            ep->sample = g;
            ep->end = EP_END_RUNNING;
            ep->knowledge_truncated = pr.knowledge_truncated;
            buf_init(&ep->text);
            ep_push(ep, t, pr.tokens, NULL, pr.n_tokens, EP_SEG_PROMPT, 0);
            ep->n_prompt = pr.n_tokens;
            remaining[k * G + g] = c->max_completion_tokens > 0 ? c->max_completion_tokens : INT_MAX;
        }
        ep_prompt_free(&pr);
    }
    const char *stops[2] = {ep_tool_close(c->wire), EP_ANSWER_CLOSE};
    for (;;) {
        int B = 0;
        size_t total = 0;
        for (int i = 0; i < N; i++) {
            if (out[i].end != EP_END_RUNNING)
                continue;
            int mx = c->max_turn_tokens < remaining[i] ? c->max_turn_tokens : remaining[i];
            reqs[B++] = (ep_gen_req){.episode = i,
                                     .turn = out[i].turns + 1,
                                     .tokens = out[i].tokens,
                                     .n_tokens = out[i].n_tokens,
                                     .max_new = mx};
            total += (size_t)mx;
        }
        if (B == 0)
            break;
        tokbuf = xrealloc(tokbuf, total * sizeof *tokbuf);
        lpbuf = xrealloc(lpbuf, total * sizeof *lpbuf);
        size_t off = 0;
        for (int b = 0; b < B; b++) {
            reqs[b].out_tokens = tokbuf + off;
            reqs[b].out_logprobs = lpbuf + off;
            off += (size_t)reqs[b].max_new;
        }
        uint64_t t0 = time_now_ns();
        if (p->generate(p->user, reqs, B, stops, 2, e) != 0)
            goto fail;
        if (stats) {
            stats->gen_calls++;
            stats->gen_ms += (double)(time_now_ns() - t0) / 1e6;
        }
        for (int b = 0; b < B; b++) {
            ep_gen_req *q = &reqs[b];
            if (q->n_out < 1 || q->n_out > q->max_new) {
                err_set(e, "episode: the policy returned %d tokens for episode %d, turn %d (1..%d allowed)",
                        q->n_out, q->episode, q->turn, q->max_new);
                goto fail;
            }
        }
        for (int b = 0; b < B; b++) {
            ep_gen_req *q = &reqs[b];
            ep_episode *ep = &out[q->episode];
            ep->turns++;
            ep_push(ep, t, q->out_tokens, q->out_logprobs, q->n_out, EP_SEG_MODEL, ep->turns);
            if (stats)
                stats->model_tokens += q->n_out;
            remaining[q->episode] -= q->n_out;
            ep_segment seg = ep->segs[ep->n_segs - 1];
            if (handle_turn(&r, ep, &seg, q->max_new, &remaining[q->episode], e) != 0)
                goto fail;
        }
    }
    for (int i = 0; i < N; i++)
        log_episode(&out[i]);
    rc = 0;
    goto done;
fail:
    for (int i = 0; i < N; i++)
        ep_episode_free(&out[i]);
done:
    buf_free(&r.close);
    buf_free(&r.pre);
    buf_free(&r.post);
    buf_free(&r.eot_bytes);
    free(tokbuf);
    free(lpbuf);
    free(reqs);
    free(remaining);
    return rc;
}

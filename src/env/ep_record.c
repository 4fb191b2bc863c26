/* env/ep_record: an episode as readable text and as JSON. */
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

static const char *seg_kind_name(ep_seg_kind k)
{
    return k == EP_SEG_PROMPT ? "prompt" : k == EP_SEG_MODEL ? "model" : "environment";
}

void ep_format(const ep_episode *ep, buf_t *out)
{
    buf_printf(out,
               "task %d, sample %d: %s after %d turn%s; %d prompt, %d model and %d environment "
               "tokens; %d tool call%s (%d errors)",
               ep->task, ep->sample, ep_end_name(ep->end), ep->turns, ep->turns == 1 ? "" : "s",
               ep->n_prompt, ep->n_model, ep->n_env, ep->n_calls, ep->n_calls == 1 ? "" : "s",
               ep->n_call_errors);
    if (ep->knowledge_truncated)
        buf_puts(out, "; knowledge truncated");
    if (ep->end_detail)
        buf_printf(out, "\nwhy: %s", ep->end_detail);
    buf_printf(out, "\nfinal SQL: %s\n", ep->final_sql ? ep->final_sql : "(none)");
    for (int i = 0; i < ep->n_segs; i++) {
        const ep_segment *s = &ep->segs[i];
        if (s->kind == EP_SEG_MODEL)
            buf_printf(out, "--- model, turn %d (%d tokens)\n", s->turn, s->ntok);
        else
            buf_printf(out, "--- %s (%d tokens)\n", seg_kind_name(s->kind), s->ntok);
        utf8_append_lossy(out, ep->text.data + s->byte0, s->nbytes);
        if (s->nbytes == 0 || ep->text.data[s->byte0 + s->nbytes - 1] != '\n')
            buf_putc(out, '\n');
    }
    for (int i = 0; i < ep->n_calls; i++) {
        const ep_call *c = &ep->calls[i];
        buf_printf(out, "--- call %d (turn %d): %s, %s%s, %.1f ms\n", i + 1, c->turn,
                   c->name ? c->name : "(no name)", c->executed ? "ran" : "refused",
                   c->is_error ? ", error" : "", c->ms);
    }
    buf_printf(out, "--- end: %s", ep_end_name(ep->end));
}

static json_t *lossy_string(const char *s, size_t n)
{
    buf_t b;
    buf_init(&b);
    utf8_append_lossy(&b, s ? s : "", s ? n : 0);
    json_t *v = json_stringn(b.data ? b.data : "", b.len);
    buf_free(&b);
    return v;
}

static json_t *str_or_null(const char *s)
{
    return s ? lossy_string(s, strlen(s)) : json_null();
}

json_t *ep_to_json(const ep_episode *ep)
{
    json_t *o = json_object();
    json_object_set_new(o, "task", json_integer(ep->task));
    json_object_set_new(o, "sample", json_integer(ep->sample));
    json_object_set_new(o, "end", json_string(ep_end_name(ep->end)));
    json_object_set_new(o, "end_detail", str_or_null(ep->end_detail));
    json_object_set_new(o, "final_sql", str_or_null(ep->final_sql));
    json_object_set_new(o, "turns", json_integer(ep->turns));
    json_object_set_new(o, "n_tokens", json_integer(ep->n_tokens));
    json_object_set_new(o, "n_prompt", json_integer(ep->n_prompt));
    json_object_set_new(o, "n_model", json_integer(ep->n_model));
    json_object_set_new(o, "n_env", json_integer(ep->n_env));
    json_object_set_new(o, "n_calls", json_integer(ep->n_calls));
    json_object_set_new(o, "n_call_errors", json_integer(ep->n_call_errors));
    json_object_set_new(o, "n_refused_answers", json_integer(ep->n_refused_answers));
    json_object_set_new(o, "knowledge_truncated", json_boolean(ep->knowledge_truncated));
    json_t *toks = json_array(), *mask = json_array(), *lps = json_array();
    for (int i = 0; i < ep->n_tokens; i++) {
        json_array_append_new(toks, json_integer(ep->tokens[i]));
        json_array_append_new(mask, json_integer(ep->from_model[i]));
        json_array_append_new(lps, json_real(ep->logprobs[i]));
    }
    json_object_set_new(o, "tokens", toks);
    json_object_set_new(o, "from_model", mask);
    json_object_set_new(o, "logprobs", lps);
    json_t *segs = json_array();
    for (int i = 0; i < ep->n_segs; i++) {
        const ep_segment *s = &ep->segs[i];
        json_array_append_new(
            segs, json_pack("{s:s, s:i, s:i, s:i, s:o}", "kind", seg_kind_name(s->kind), "turn", s->turn,
                            "tok0", s->tok0, "ntok", s->ntok, "text",
                            lossy_string(ep->text.data + s->byte0, s->nbytes)));
    }
    json_object_set_new(o, "segments", segs);
    json_t *calls = json_array();
    for (int i = 0; i < ep->n_calls; i++) {
        const ep_call *c = &ep->calls[i];
        json_t *co = json_object();
        json_object_set_new(co, "turn", json_integer(c->turn));
        json_object_set_new(co, "name", str_or_null(c->name));
        json_object_set_new(co, "args", c->args ? json_incref(c->args) : json_null());
        json_object_set_new(co, "raw", str_or_null(c->raw));
        json_object_set_new(co, "result", str_or_null(c->result));
        json_object_set_new(co, "is_error", json_boolean(c->is_error));
        json_object_set_new(co, "executed", json_boolean(c->executed));
        json_object_set_new(co, "ms", json_real(c->ms));
        json_array_append_new(calls, co);
    }
    json_object_set_new(o, "calls", calls);
    json_object_set_new(o, "text", lossy_string(ep->text.data, ep->text.len));
    return o;
}

/* env/ep_prompt: the configuration, the wire formats' texts and the prompt
 * of a task (system text with the tools, user text with the task), fitted
 * to a token budget by cutting the external knowledge. */
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

static const char *const g_wire_names[] = {[EP_WIRE_SPIDER2] = "spider2", [EP_WIRE_HERMES] = "hermes"};

int ep_wire_parse(const char *name, ep_wire *out)
{
    for (size_t i = 0; i < ARRAY_LEN(g_wire_names); i++)
        if (name && !strcmp(name, g_wire_names[i])) {
            *out = (ep_wire)i;
            return 0;
        }
    return -1;
}

const char *ep_wire_name(ep_wire w)
{
    return (size_t)w < ARRAY_LEN(g_wire_names) ? g_wire_names[w] : "unknown";
}

ep_wire ep_wire_default(chat_format f)
{
    return f == CHAT_CHATML ? EP_WIRE_HERMES : EP_WIRE_SPIDER2;
}

const char *ep_tool_open(ep_wire w)
{
    return w == EP_WIRE_HERMES ? "<tool_call>" : "<tool>";
}

const char *ep_tool_close(ep_wire w)
{
    return w == EP_WIRE_HERMES ? "</tool_call>" : "</tool>";
}

void ep_result_tags(ep_wire w, const char **open, const char **close)
{
    if (w == EP_WIRE_HERMES) {
        *open = "<tool_response>\n";
        *close = "\n</tool_response>";
    } else {
        *open = "<result>";
        *close = "</result>";
    }
}

void ep_config_default(ep_config *c)
{
    *c = (ep_config){.chat = CHAT_CHATML,
                     .wire = ep_wire_default(CHAT_CHATML),
                     .max_steps = 20,
                     .max_query_length = 1000,
                     .max_turn_tokens = 512,
                     .max_completion_tokens = 4096,
                     .max_prompt_tokens = 4096,
                     .continue_without_action = 0};
}

int ep_config_check(const ep_config *c, err_t *e)
{
    if (c->max_steps < 1)
        return err_set(e, "episode: max_steps is %d; it must be at least 1", c->max_steps);
    if (c->max_turn_tokens < 1)
        return err_set(e, "episode: max_turn_tokens is %d; it must be at least 1", c->max_turn_tokens);
    if (c->max_query_length < 0)
        return err_set(e, "episode: max_query_length is %d; it must be 0 (no limit) or more",
                       c->max_query_length);
    if (c->max_completion_tokens < 0)
        return err_set(e, "episode: max_completion_tokens is %d; it must be 0 (no limit) or more",
                       c->max_completion_tokens);
    if (c->max_prompt_tokens < 0)
        return err_set(e, "episode: max_prompt_tokens is %d; it must be 0 (no limit) or more",
                       c->max_prompt_tokens);
    if ((unsigned)c->wire >= ARRAY_LEN(g_wire_names))
        return err_set(e, "episode: wire format %d is neither spider2 nor hermes", (int)c->wire);
    if (strcmp(chat_format_name(c->chat), "unknown") == 0)
        return err_set(e, "episode: chat format %d is not chatml, llama3 or dialogpt", (int)c->chat);
    return 0;
}

/* ---- chat-format pieces */

void ep_turn_close(chat_format f, const tok_t *t, buf_t *out, int32_t *eot)
{
    const char *name = f == CHAT_CHATML ? "<|im_end|>" : f == CHAT_LLAMA3 ? "<|eot_id|>" : NULL;
    int32_t id = name ? tok_id(t, name) : tok_eos(t);
    *eot = id;
    if (id >= 0)
        tok_token_bytes(t, id, out);
    else
        buf_puts(out, name ? name : "<|endoftext|>");
    if (f == CHAT_CHATML)
        buf_putc(out, '\n');
}

/* The content of the probe message: it cannot occur in a rendering. */
#define PROBE "\x01\x02probe\x02\x01"

void ep_user_block(chat_format f, const tok_t *t, buf_t *pre, buf_t *post)
{
    /* What the chat format renders for a user message after an earlier
     * one: the difference between the two renderings. A message before
     * it keeps the formats' first-message extras (bos, a default system
     * message) out of the difference. */
    chat_msg msgs[2] = {{"user", "q"}, {"user", PROBE}};
    buf_t a, b;
    buf_init(&a);
    buf_init(&b);
    chat_render(f, t, msgs, 1, 0, &a);
    chat_render(f, t, msgs, 2, 1, &b);
    size_t from = (b.len >= a.len && !memcmp(a.data, b.data, a.len)) ? a.len : 0;
    const char *p = strstr(b.data + from, PROBE);
    if (!p) { /* no chat format drops a message; keep the content unwrapped */
        buf_free(&a);
        buf_free(&b);
        return;
    }
    buf_append(pre, b.data + from, (size_t)(p - (b.data + from)));
    buf_puts(post, p + strlen(PROBE));
    buf_free(&a);
    buf_free(&b);
}

int ep_encode_append(const tok_t *t, const char *text, size_t len, int special, int32_t **ids,
                     int *n, int *cap, err_t *e)
{
    if (len == 0)
        return 0;
    int32_t *got = NULL;
    size_t ng = 0;
    if (utf8_valid(text, len)) {
        if (tok_encode(t, text, len, special, &got, &ng, e) != 0)
            return -1;
    } else {
        buf_t clean;
        buf_init(&clean);
        utf8_append_lossy(&clean, text, len);
        int rc = tok_encode(t, clean.data, clean.len, special, &got, &ng, e);
        buf_free(&clean);
        if (rc != 0)
            return -1;
    }
    if ((size_t)*n + ng > (size_t)*cap) {
        size_t nc = (size_t)*cap * 2 + ng + 64;
        *ids = xrealloc(*ids, nc * sizeof **ids);
        *cap = (int)nc;
    }
    memcpy(*ids + *n, got, ng * sizeof *got);
    *n += (int)ng;
    free(got);
    return 0;
}

/* ---- the system text */

static void dump_json(buf_t *out, json_t *v)
{
    /* Python's json.dumps separators (", " and ": "), keys in their order */
    char *s = json_dumps(v, JSON_PRESERVE_ORDER);
    buf_puts(out, s ? s : "null");
    free(s);
}

void ep_system_text(const ep_config *c, const env_tools *tools, buf_t *out)
{
    int n = tools ? tools->n : 0;
    buf_puts(out,
             "You are a SQL expert. Explore the database with the tools below, then answer the "
             "question with one SQL query.\n\n# Tools\n\n");
    if (c->wire == EP_WIRE_HERMES) {
        buf_puts(out, "You may call one function per turn. Function signatures are given within "
                      "<tools></tools> XML tags:\n<tools>");
        for (int i = 0; i < n; i++) {
            const env_tool *tl = &tools->tools[i];
            json_t *fn = json_object();
            json_object_set_new(fn, "name", json_string(tl->name));
            json_object_set_new(fn, "description", json_string(tl->description ? tl->description : ""));
            if (tl->input_schema)
                json_object_set(fn, "parameters", tl->input_schema);
            else
                json_object_set_new(fn, "parameters", json_object());
            json_t *o = json_pack("{s:s, s:o}", "type", "function", "function", fn);
            buf_putc(out, '\n');
            dump_json(out, o);
            json_decref(o);
        }
        buf_puts(out, "\n</tools>\n\nFor a function call, return a JSON object with the function "
                      "name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
                      "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>\n"
                      "Then stop: the result comes back within <tool_response></tool_response> "
                      "tags.\n\n");
    } else {
        buf_puts(out, "You may call one tool per turn. The tools, one JSON object each (name, "
                      "description, input schema):\n");
        for (int i = 0; i < n; i++) {
            const env_tool *tl = &tools->tools[i];
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(tl->name));
            json_object_set_new(o, "description", json_string(tl->description ? tl->description : ""));
            if (tl->input_schema)
                json_object_set(o, "input_schema", tl->input_schema);
            else
                json_object_set_new(o, "input_schema", json_object());
            dump_json(out, o);
            buf_putc(out, '\n');
            json_decref(o);
        }
        buf_puts(out, "\nYou may think inside <think>...</think>. To call a tool, write\n"
                      "<tool>{\"name\": \"TOOL_NAME\", \"args\": {ARGUMENTS}}</tool>\n"
                      "and stop: the result comes back as <result>...</result>, an error as "
                      "<result>Error: ...</result>.\n\n");
    }
    buf_puts(out, "# Answer\n\nWhen you know the answer, write the final SQL query as\n"
                  "<answer>SELECT ...</answer>\n");
    buf_printf(out, "You have at most %d turns.", c->max_steps);
    if (c->max_query_length > 0)
        buf_printf(out, " Queries longer than %d characters are refused.", c->max_query_length);
}

/* ---- the prompt */

#define TRUNC_MARK "\n[... external knowledge truncated ...]"

static void user_text(const ep_task *task, const char *know, size_t know_len, int truncated,
                      buf_t *out)
{
    buf_printf(out, "Database: %s\n\n", task->db ? task->db : "");
    if (know_len > 0 || truncated) {
        buf_puts(out, "External knowledge:\n");
        buf_append(out, know, know_len);
        if (truncated)
            buf_puts(out, TRUNC_MARK);
        buf_puts(out, "\n\n");
    }
    buf_printf(out, "Question: %s", task->question ? task->question : "");
}

/* Renders and encodes the prompt with know[0, keep); *n_tokens its size. */
static int render_encode(const ep_config *c, const tok_t *t, const char *sys, const ep_task *task,
                         const char *know, size_t keep, int truncated, buf_t *text, int32_t **ids,
                         int *n, err_t *e)
{
    buf_t user;
    buf_init(&user);
    user_text(task, know, keep, truncated, &user);
    chat_msg msgs[2] = {{"system", sys}, {"user", user.data}};
    buf_reset(text);
    chat_render(c->chat, t, msgs, 2, 1, text);
    buf_free(&user);
    free(*ids);
    *ids = NULL;
    *n = 0;
    int cap = 0;
    if (tok_adds_bos(t) && tok_bos(t) >= 0) {
        /* as tokenizer.h says: plain text gets the BOS its post-processor adds */
        int32_t bos = tok_bos(t);
        buf_t bb;
        buf_init(&bb);
        tok_token_bytes(t, bos, &bb);
        int has = text->len >= bb.len && !memcmp(text->data, bb.data, bb.len);
        buf_free(&bb);
        if (!has) {
            *ids = xmalloc(64 * sizeof **ids);
            cap = 64;
            (*ids)[(*n)++] = bos;
        }
    }
    if (ep_encode_append(t, text->data, text->len, 1, ids, n, &cap, e) != 0)
        return -1;
    return 0;
}

/* Largest k <= len at a UTF-8 character start. */
static size_t char_floor(const char *s, size_t len, size_t k)
{
    while (k > 0 && k < len && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

int ep_prompt_build(const ep_config *c, const tok_t *t, const env_tools *tools,
                    const ep_task *task, ep_prompt *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    const char *id = task->id ? task->id : "(no id)";
    if (!task->question || !*task->question)
        return err_set(e, "task %s: the question is empty", id);
    buf_t sys, text;
    buf_init(&sys);
    buf_init(&text);
    ep_system_text(c, tools, &sys);
    const char *know = task->knowledge ? task->knowledge : "";
    size_t klen = strlen(know);
    int32_t *ids = NULL;
    int n = 0, rc = -1, budget = c->max_prompt_tokens;
    if (render_encode(c, t, sys.data, task, know, klen, 0, &text, &ids, &n, e) != 0)
        goto done;
    size_t keep = klen;
    int truncated = 0;
    if (budget > 0 && n > budget) {
        truncated = 1;
        if (render_encode(c, t, sys.data, task, know, 0, klen > 0, &text, &ids, &n, e) != 0)
            goto done;
        if (n > budget) {
            err_set(e,
                    "task %s: the prompt needs %d tokens without its external knowledge (tools "
                    "and question); max_prompt_tokens is %d",
                    id, n, budget);
            goto done;
        }
        /* the longest prefix of the knowledge that fits: lo fits, hi does not */
        size_t lo = 0, hi = klen;
        while (hi - lo > 1) {
            size_t mid = char_floor(know, klen, lo + (hi - lo) / 2);
            if (mid <= lo)
                mid = lo + 1;
            while (mid < hi && ((unsigned char)know[mid] & 0xC0) == 0x80)
                mid++;
            if (mid >= hi)
                break;
            if (render_encode(c, t, sys.data, task, know, mid, 1, &text, &ids, &n, e) != 0)
                goto done;
            if (n <= budget)
                lo = mid;
            else
                hi = mid;
        }
        keep = lo;
        if (render_encode(c, t, sys.data, task, know, keep, 1, &text, &ids, &n, e) != 0)
            goto done;
    }
    out->text = buf_take(&text);
    out->tokens = ids;
    out->n_tokens = n;
    out->knowledge_truncated = truncated;
    out->knowledge_bytes = keep;
    ids = NULL;
    rc = 0;
done:
    free(ids);
    buf_free(&sys);
    buf_free(&text);
    return rc;
}

void ep_prompt_free(ep_prompt *p)
{
    free(p->text);
    free(p->tokens);
    memset(p, 0, sizeof *p);
}

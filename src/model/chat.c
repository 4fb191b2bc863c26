/* model/chat: the three chat formats, rendered as each model's own Jinja
 * chat template renders them (transformers' apply_chat_template), for
 * messages with a role and a text content:
 *
 *   chatml    Qwen3's template: a leading system message; user turns; the
 *             assistant turns after the last user query carry a
 *             "<think>\n...\n</think>\n\n" block when they are the last
 *             message or have reasoning (content with </think> is split
 *             into reasoning and answer); consecutive tool results go into
 *             one user turn as <tool_response> blocks. Qwen2/Qwen2.5's
 *             templates (no <think>) add their default system message when
 *             the first message is not one. The generation prompt is
 *             "<|im_start|>assistant\n" - the template's default; with
 *             enable_thinking=false Qwen3 would add an empty think block
 *             there, which we do not render.
 *   llama3    Meta's Llama 3 template: bos_token, then per message
 *             "<|start_header_id|>ROLE<|end_header_id|>\n\n" + content|trim
 *             + "<|eot_id|>".
 *   dialogpt  each message's content followed by eos_token.
 */
#include <stdlib.h>
#include <string.h>

#include "chat.h"

chat_format chat_detect(const tok_t *t)
{
    const char *tpl = t ? tok_chat_template(t) : NULL;
    if (tpl && strstr(tpl, "<|im_start|>"))
        return CHAT_CHATML;
    if (tpl && strstr(tpl, "<|start_header_id|>"))
        return CHAT_LLAMA3;
    return CHAT_DIALOGPT;
}

static const char *const g_names[] = {[CHAT_CHATML] = "chatml", [CHAT_LLAMA3] = "llama3",
                                      [CHAT_DIALOGPT] = "dialogpt"};

int chat_format_parse(const char *name, chat_format *out)
{
    for (size_t i = 0; i < ARRAY_LEN(g_names); i++)
        if (!strcmp(name, g_names[i])) {
            *out = (chat_format)i;
            return 0;
        }
    return -1;
}

const char *chat_format_name(chat_format f)
{
    return (size_t)f < ARRAY_LEN(g_names) ? g_names[f] : "unknown";
}

/* Python's str.isspace, which Jinja's trim (str.strip) uses. */
static int py_space(uint32_t c)
{
    return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

static void append_trimmed(buf_t *out, const char *s)
{
    size_t n = strlen(s), a = 0, b = n;
    while (a < n) {
        uint32_t cp;
        size_t k = utf8_decode(s + a, n - a, &cp);
        if (!py_space(cp))
            break;
        a += k;
    }
    while (b > a) {
        size_t i = b - 1;
        while (i > a && ((unsigned char)s[i] & 0xC0) == 0x80)
            i--;
        uint32_t cp;
        utf8_decode(s + i, b - i, &cp);
        if (!py_space(cp))
            break;
        b = i;
    }
    buf_append(out, s + a, b - a);
}

/* The text of a special token, or dflt where the tokenizer has none. */
static void append_token(buf_t *out, const tok_t *t, int32_t id, const char *dflt)
{
    if (t && id >= 0)
        tok_token_bytes(t, id, out);
    else
        buf_puts(out, dflt);
}

/* Qwen2/Qwen2.5 write a constant default system message into their
 * template: '<|im_start|>system\nYou are ...<|im_end|>\n'. Returns it
 * (malloc'ed, with \n unescaped), or NULL where the template has none. */
static char *chatml_default_system(const char *tpl)
{
    static const char key[] = "<|im_start|>system\\n";
    for (const char *p = tpl ? strstr(tpl, key) : NULL; p; p = strstr(p + 1, key)) {
        const char *q = p + strlen(key), *end = strstr(q, "<|im_end|>");
        if (!end)
            break;
        if (end == q || strpbrk(q, "'\"+{}") < end)
            continue; /* not a constant: the template's own system message */
        buf_t b;
        buf_init(&b);
        for (const char *s = q; s < end; s++) {
            if (s[0] == '\\' && s + 1 < end && s[1] == 'n') {
                buf_putc(&b, '\n');
                s++;
            } else {
                buf_putc(&b, *s);
            }
        }
        return buf_take(&b);
    }
    return NULL;
}

static int is_role(const chat_msg *m, const char *role)
{
    return m->role && !strcmp(m->role, role);
}

static const char *content_of(const chat_msg *m)
{
    return m->content ? m->content : "";
}

/* s[a..b) without leading (lead) and trailing (trail) newlines. */
static void strip_newlines(const char *s, size_t *a, size_t *b, int lead, int trail)
{
    while (lead && *a < *b && s[*a] == '\n')
        (*a)++;
    while (trail && *b > *a && s[*b - 1] == '\n')
        (*b)--;
}

static const char *last_strstr(const char *s, const char *end, const char *needle)
{
    const char *last = NULL;
    size_t n = strlen(needle);
    for (const char *p = s; (p = strstr(p, needle)) && p + n <= end; p++)
        last = p;
    return last;
}

static void render_chatml(const tok_t *t, const chat_msg *m, size_t n, int gen, buf_t *out)
{
    const char *tpl = t ? tok_chat_template(t) : NULL;
    int think = tpl && strstr(tpl, "</think>");
    char *dflt = chatml_default_system(tpl);
    if (n && is_role(&m[0], "system"))
        buf_printf(out, "<|im_start|>system\n%s<|im_end|>\n", content_of(&m[0]));
    else if (dflt)
        buf_printf(out, "<|im_start|>system\n%s<|im_end|>\n", dflt);
    free(dflt);
    /* the last user message that is a real query, not wrapped tool output */
    size_t last_query = n ? n - 1 : 0;
    for (size_t i = n; i-- > 0;) {
        const char *c = content_of(&m[i]);
        if (is_role(&m[i], "user") && !(str_starts(c, "<tool_response>") && str_ends(c, "</tool_response>"))) {
            last_query = i;
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *c = content_of(&m[i]);
        if (is_role(&m[i], "user") || (is_role(&m[i], "system") && i > 0)) {
            buf_printf(out, "<|im_start|>%s\n%s<|im_end|>\n", m[i].role, c);
        } else if (is_role(&m[i], "assistant")) {
            size_t len = strlen(c), ca = 0, cb = len, ra = 0, rb = 0;
            const char *close = think ? strstr(c, "</think>") : NULL;
            if (close) { /* reasoning before the first </think>, answer after the last */
                ca = (size_t)(last_strstr(c, c + len, "</think>") - c) + strlen("</think>");
                strip_newlines(c, &ca, &cb, 1, 0);
                rb = (size_t)(close - c);
                strip_newlines(c, &ra, &rb, 0, 1);
                const char *open = last_strstr(c, c + rb, "<think>");
                if (open)
                    ra = (size_t)(open - c) + strlen("<think>");
                strip_newlines(c, &ra, &rb, 1, 0);
            }
            buf_puts(out, "<|im_start|>assistant\n");
            if (think && i > last_query && (i == n - 1 || rb > ra)) {
                strip_newlines(c, &ra, &rb, 1, 1);
                buf_puts(out, "<think>\n");
                buf_append(out, c + ra, rb - ra);
                buf_puts(out, "\n</think>\n\n");
                strip_newlines(c, &ca, &cb, 1, 0);
            }
            buf_append(out, c + ca, cb - ca);
            buf_puts(out, "<|im_end|>\n");
        } else if (is_role(&m[i], "tool")) {
            if (i == 0 || !is_role(&m[i - 1], "tool"))
                buf_puts(out, "<|im_start|>user");
            buf_printf(out, "\n<tool_response>\n%s\n</tool_response>", c);
            if (i == n - 1 || !is_role(&m[i + 1], "tool"))
                buf_puts(out, "<|im_end|>\n");
        }
    }
    if (gen)
        buf_puts(out, "<|im_start|>assistant\n");
}

static void render_llama3(const tok_t *t, const chat_msg *m, size_t n, int gen, buf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i == 0)
            append_token(out, t, t ? tok_bos(t) : -1, "<|begin_of_text|>");
        buf_printf(out, "<|start_header_id|>%s<|end_header_id|>\n\n", m[i].role ? m[i].role : "");
        append_trimmed(out, content_of(&m[i]));
        buf_puts(out, "<|eot_id|>");
    }
    if (gen)
        buf_puts(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void render_dialogpt(const tok_t *t, const chat_msg *m, size_t n, buf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        buf_puts(out, content_of(&m[i]));
        append_token(out, t, t ? tok_eos(t) : -1, "<|endoftext|>");
    }
}

void chat_render(chat_format f, const tok_t *t, const chat_msg *msgs, size_t n, int add_generation_prompt,
                 buf_t *out)
{
    switch (f) {
    case CHAT_CHATML:
        render_chatml(t, msgs, n, add_generation_prompt, out);
        break;
    case CHAT_LLAMA3:
        render_llama3(t, msgs, n, add_generation_prompt, out);
        break;
    case CHAT_DIALOGPT: /* its template has no generation prompt */
        render_dialogpt(t, msgs, n, out);
        break;
    }
}

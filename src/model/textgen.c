/* model/textgen: a model, its tokenizer and its chat format together. */
#include "textgen.h"

#include <stdlib.h>
#include <string.h>

static void add_id(int32_t *out, int *n, int max, int32_t id)
{
    if (id < 0 || *n >= max)
        return;
    for (int i = 0; i < *n; i++)
        if (out[i] == id)
            return;
    out[(*n)++] = id;
}

int tg_stop_ids(const tf_model *m, const tok_t *t, chat_format f, int32_t *out, int max)
{
    int n = 0;
    const hf_config *c = tf_config(m);
    for (int i = 0; i < c->n_eos; i++)
        add_id(out, &n, max, c->eos_token_ids[i]);
    add_id(out, &n, max, tok_eos(t));
    static const char *const turn_end[] = {"<|im_end|>", "<|eot_id|>", "<|eom_id|>",
                                           "<|endoftext|>"};
    if (f != CHAT_DIALOGPT)
        for (size_t i = 0; i < ARRAY_LEN(turn_end); i++)
            add_id(out, &n, max, tok_id(t, turn_end[i]));
    return n;
}

/* Stop strings: the bytes each sequence has produced, searched after every
 * token (only the tail that can hold a new match). */
typedef struct stop_state {
    const tok_t *tok;
    const tg_opts *o;
    buf_t text;
    size_t longest;
} stop_state;

static int stop_check(void *user, int seq, const int32_t *toks, int n)
{
    (void)seq;
    stop_state *s = user;
    size_t before = s->text.len;
    tok_token_bytes(s->tok, toks[n - 1], &s->text);
    size_t from = before > s->longest ? before - s->longest : 0;
    for (int i = 0; i < s->o->n_stop_strings; i++) {
        const char *st = s->o->stop_strings[i];
        size_t len = strlen(st);
        if (len && memmem(s->text.data + from, s->text.len - from, st, len))
            return 1;
    }
    return 0;
}

int tg_generate(tf_model *m, const tok_t *t, chat_format f, const char *prompt_text,
                const tg_opts *o, buf_t *out, tf_finish *finish, err_t *e)
{
    int32_t *ids = NULL;
    size_t n = 0;
    if (tok_encode(t, prompt_text, strlen(prompt_text), 1, &ids, &n, e) != 0)
        return -1;
    /* Plain text of a model whose tokenizer begins with BOS gets it, as
     * the tokenizer's post-processor would add it; a rendered chat
     * already starts with whatever the template writes. */
    if (tok_adds_bos(t) && tok_bos(t) >= 0 && (n == 0 || ids[0] != tok_bos(t))) {
        ids = xrealloc(ids, (n + 1) * sizeof *ids);
        memmove(ids + 1, ids, n * sizeof *ids);
        ids[0] = tok_bos(t);
        n++;
    }
    if (n == 0) {
        free(ids);
        return err_set(e, "the prompt is empty: there is nothing to continue");
    }
    int32_t stop_ids[16];
    int n_stop = tg_stop_ids(m, t, f, stop_ids, (int)ARRAY_LEN(stop_ids));
    stop_state ss = {.tok = t, .o = o};
    buf_init(&ss.text);
    for (int i = 0; i < o->n_stop_strings; i++)
        if (strlen(o->stop_strings[i]) > ss.longest)
            ss.longest = strlen(o->stop_strings[i]);
    tf_gen_params p = {.max_new_tokens = o->max_new_tokens,
                       .temperature = o->temperature,
                       .top_k = o->top_k,
                       .top_p = o->top_p,
                       .stop_ids = stop_ids,
                       .n_stop = n_stop,
                       .seed = o->seed,
                       .should_stop = o->n_stop_strings ? stop_check : NULL,
                       .user = &ss};
    int32_t *new_toks = xcalloc((size_t)(o->max_new_tokens > 0 ? o->max_new_tokens : 1),
                                sizeof *new_toks);
    int n_new = 0;
    tf_finish fin = TF_FINISH_LENGTH;
    tf_gen_out go = {.tokens = new_toks, .logprobs = NULL, .n = &n_new, .finish = &fin};
    const int32_t *prompts[1] = {ids};
    int lens[1] = {(int)n};
    int rc = tf_generate(m, prompts, lens, 1, &p, &go, e);
    if (rc == 0) {
        tok_decode(t, new_toks, (size_t)n_new, 1, out);
        if (finish)
            *finish = fin;
    }
    buf_free(&ss.text);
    free(new_toks);
    free(ids);
    return rc;
}

/* model/textgen: text in, text out - a model with its tokenizer and chat
 * format: encode the prompt (rendered as a chat when asked), generate with
 * the end-of-turn tokens and stop strings of that model, decode. What
 * `retrain generate` runs, and what an agent's turn will run. Prefix tg_. */
#ifndef RETRAIN_MODEL_TEXTGEN_H
#define RETRAIN_MODEL_TEXTGEN_H

#include "chat.h"
#include "tokenizer.h"
#include "transformer.h"

typedef struct tg_opts {
    int max_new_tokens;
    float temperature; /* 0: greedy */
    int top_k;
    float top_p;
    uint64_t seed;
    const char *const *stop_strings; /* generation ends once the text contains one */
    int n_stop_strings;
} tg_opts;

/* The ids that end a turn: the config's and tokenizer's eos, and the
 * chat format's end-of-turn marker (<|im_end|>, <|eot_id|>, <|eom_id|>).
 * Returns how many were written (at most max). */
int tg_stop_ids(const tf_model *m, const tok_t *t, chat_format f, int32_t *out, int max);

/* Continues prompt_text (already rendered: special tokens in it count as
 * special) and appends the new text to out, special tokens left out.
 * The text stops after the first stop string, which it includes. */
int tg_generate(tf_model *m, const tok_t *t, chat_format f, const char *prompt_text,
                const tg_opts *o, buf_t *out, tf_finish *finish, err_t *e);

#endif

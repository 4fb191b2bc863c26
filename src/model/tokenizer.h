/* model/tokenizer: byte-level BPE exactly as Hugging Face defines it -
 * tokenizer.json (vocab, merges in string or pair form, the pre-tokenizer
 * split regex through PCRE2, ByteLevel, added and special tokens, NFC
 * where the normalizer says so) or GPT-2's vocab.json + merges.txt - with
 * the special tokens of tokenizer_config.json / special_tokens_map.json.
 * Prefix tok_. */
#ifndef RETRAIN_MODEL_TOKENIZER_H
#define RETRAIN_MODEL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

typedef struct tok tok_t;

/* Loads the tokenizer of a model directory. NULL and a one-line error
 * (naming the file and what is wrong) on failure. */
tok_t *tok_load(const char *dir, err_t *e);
/* The same from the text of a tokenizer.json alone (no tokenizer_config:
 * no eos/bos, no chat template); name is what errors call it. */
tok_t *tok_load_json(const char *json, size_t len, const char *name, err_t *e);
void tok_free(tok_t *t);

/* Encodes UTF-8 text into *ids (malloc'ed, *n of them). With special=1,
 * special tokens written in the text become their ids (Hugging Face's
 * default); with 0 they are encoded as ordinary text. */
int tok_encode(const tok_t *t, const char *text, size_t len, int special, int32_t **ids, size_t *n,
               err_t *e);
/* Appends the text of ids; skip_special leaves special tokens out.
 * Byte sequences that are not valid UTF-8 decode to U+FFFD, as Hugging
 * Face's decoder does. */
void tok_decode(const tok_t *t, const int32_t *ids, size_t n, int skip_special, buf_t *out);
/* Appends the raw bytes one token stands for (byte-level tokens may end in
 * the middle of a UTF-8 character), for streaming and stop strings. */
void tok_token_bytes(const tok_t *t, int32_t id, buf_t *out);

size_t tok_vocab_size(const tok_t *t);   /* including added tokens */
int32_t tok_id(const tok_t *t, const char *token); /* -1 if absent */
int tok_is_special(const tok_t *t, int32_t id);
int32_t tok_eos(const tok_t *t); /* -1 where the model has none */
int32_t tok_bos(const tok_t *t);
int32_t tok_pad(const tok_t *t);
/* 1 where tokenizer.json's post_processor puts bos_token before the text
 * (Llama 3's TemplateProcessing). tok_encode never inserts it - the chat
 * templates write bos_token into the text themselves, and inserting it
 * again would double it - so a caller encoding plain text for such a model
 * prepends tok_bos() itself. */
int tok_adds_bos(const tok_t *t);
/* chat_template of tokenizer_config.json (or chat_template.jinja), or NULL. */
const char *tok_chat_template(const tok_t *t);

#endif

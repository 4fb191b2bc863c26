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

/* ---- training a byte-level BPE (tok_train.c) ----
 * GPT-2 style as Hugging Face's BpeTrainer does it: the text is cut at the
 * special tokens, pre-tokenized with Qwen2's split regex, each word's
 * bytes start as the 256 byte tokens (so no text is ever unknown), and
 * the most frequent adjacent pair is merged until the vocabulary is full
 * (ties: the pair of lower ids first). Pair counts are updated only in
 * the words a merge touches. The special tokens are those of ChatML:
 * <|endoftext|> (bos, pad), <|im_start|>, <|im_end|> (eos), plus any
 * others a chat format needs; tags the model writes as text (<tool>,
 * <sql>) are not special tokens and must not be listed. */
typedef struct tok_train_opts {
    size_t vocab_size;                  /* wanted size, special tokens included */
    const char *const *extra_specials;  /* more "<|name|>" tokens; may be NULL */
    size_t n_extra_specials;
    long min_frequency;                 /* pairs seen fewer times are never merged; 0: 2 */
} tok_train_opts;

typedef struct tok_trainer tok_trainer;

/* Checks the options: vocab_size >= 256 + the special tokens, each extra
 * special of the form <|name|> and listed once. */
tok_trainer *tok_trainer_new(const tok_train_opts *o, err_t *e);
void tok_trainer_free(tok_trainer *tr);
/* Counts the words of one text (valid UTF-8; name is what an error calls
 * it). Call for every text before tok_trainer_train. */
int tok_trainer_feed(tok_trainer *tr, const char *text, size_t len, const char *name, err_t *e);
/* Learns the merges. Stops early (a smaller vocabulary) when no pair is
 * left that occurs min_frequency times. */
int tok_trainer_train(tok_trainer *tr, err_t *e);
/* Tokens after training, special tokens included. */
size_t tok_trainer_vocab_size(const tok_trainer *tr);
/* Writes DIR/tokenizer.json (Hugging Face's format: BPE model, Qwen2's
 * Split + ByteLevel pre-tokenizer, ByteLevel decoder, the special tokens
 * as added tokens), DIR/tokenizer_config.json (bos/eos/pad and a ChatML
 * chat_template) and DIR/special_tokens_map.json; creates DIR. */
int tok_trainer_save(const tok_trainer *tr, const char *dir, err_t *e);
/* The ids training itself gave a fed text (special tokens cut out first):
 * the segmentation tok_encode must reproduce. Every word of text must
 * have been fed; -1 and an error otherwise. */
int tok_trainer_encode(const tok_trainer *tr, const char *text, size_t len, int32_t **ids,
                       size_t *n, err_t *e);

#endif

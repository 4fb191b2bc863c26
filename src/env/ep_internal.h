/* env/episode internals shared by its files. */
#ifndef RETRAIN_ENV_EP_INTERNAL_H
#define RETRAIN_ENV_EP_INTERNAL_H

#include "episode.h"

/* The closing tags of a wire format: the tool call's and the answer's. */
const char *ep_tool_open(ep_wire w);
const char *ep_tool_close(ep_wire w);
#define EP_ANSWER_OPEN "<answer>"
#define EP_ANSWER_CLOSE "</answer>"

/* The text that closes an assistant turn in chat format f ("<|im_end|>\n",
 * "<|eot_id|>", the eos token's text); *eot gets the id of the end-of-turn
 * token it begins with (-1 where the tokenizer has none). */
void ep_turn_close(chat_format f, const tok_t *t, buf_t *out, int32_t *eot);

/* A user message holding `content` and the generation prompt after it, as
 * chat format f renders them after an earlier message: the text before the
 * content into pre, the text after it into post. */
void ep_user_block(chat_format f, const tok_t *t, buf_t *pre, buf_t *post);

/* The result wrapper of a wire format: open and close text around the
 * result. */
void ep_result_tags(ep_wire w, const char **open, const char **close);

/* Appends ids of text (special: chat-format tokens become ids) to *ids. */
int ep_encode_append(const tok_t *t, const char *text, size_t len, int special, int32_t **ids,
                     int *n, int *cap, err_t *e);

#endif

/* model/chat: the chat formats our models use, recognised from the
 * tokenizer's chat_template and overridable by name:
 *   chatml    <|im_start|>role\ncontent<|im_end|>\n ...   (Qwen2, Qwen3)
 *   llama3    <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
 *   dialogpt  turns separated by the eos token (DialoGPT, GPT-2)
 * Prefix chat_. */
#ifndef RETRAIN_MODEL_CHAT_H
#define RETRAIN_MODEL_CHAT_H

#include "../base/base.h"
#include "tokenizer.h"

typedef enum chat_format { CHAT_CHATML, CHAT_LLAMA3, CHAT_DIALOGPT } chat_format;

typedef struct chat_msg {
    const char *role; /* "system", "user", "assistant", "tool" */
    const char *content;
} chat_msg;

/* The format a tokenizer's chat_template describes (DialoGPT-style when
 * there is none). */
chat_format chat_detect(const tok_t *t);
/* "chatml", "llama3", "dialogpt" -> format; -1 for another name. */
int chat_format_parse(const char *name, chat_format *out);
const char *chat_format_name(chat_format f);
/* Renders messages as the model was trained to see them; with
 * add_generation_prompt the text ends where the assistant's reply begins. */
void chat_render(chat_format f, const tok_t *t, const chat_msg *msgs, size_t n,
                 int add_generation_prompt, buf_t *out);

#endif

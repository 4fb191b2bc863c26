/* env/episode: the multi-turn, tool-using episode of the Spider 2.0
 * environment. Prefix ep_ (and env_ for the tool interface).
 *
 * One episode, as data flows:
 *
 *   prompt (environment)   system text: the tools (name, description, input
 *                          schema as JSON) and the answer format; user text:
 *                          database, external knowledge, question - rendered
 *                          with the model's chat format, fitted to a budget
 *   turn 1 (model)         sampled tokens, kept as sampled, up to and with the
 *                          first closing tag (</tool>, </tool_call>,
 *                          </answer>) or an end-of-turn token
 *   environment            the turn's close (e.g. "<|im_end|>\n"), the tool's
 *                          result as a user message, the next generation
 *                          prompt ("<|im_start|>assistant\n")
 *   turn 2 (model) ...     until <answer>, max_steps, a turn with neither a
 *                          call nor an answer, or the token budget
 *
 * The record (ep_episode) holds the whole token sequence; per token,
 * whether the policy sampled it (with the log-probability it was sampled
 * with) or the environment inserted it. Model tokens are never
 * re-tokenised: training computes its log-probabilities on exactly the
 * sampled tokens, and masks everything else (prompt, tool results, chat
 * wrappers) out of the loss. The sequence is only ever appended to: earlier
 * turns are not re-rendered (Qwen3's template, for one, drops past <think>
 * blocks when it renders a history; the record keeps what the model was
 * sampled on). Environment text is tokenised piece by piece: the chat
 * wrappers with special tokens recognised, a tool's result as plain text
 * (a "<|im_end|>" inside a database value stays text).
 *
 * Wire formats (ep_wire):
 *   EP_WIRE_SPIDER2  <think>..</think> (optional),
 *                    <tool>{"name": "execute_query", "args": {"query": "..."}}</tool>;
 *                    results come back as <result>TEXT</result>, errors as
 *                    <result>Error: ...</result>
 *   EP_WIRE_HERMES   <tool_call>{"name": ..., "arguments": {...}}</tool_call>;
 *                    results as <tool_response>\nTEXT\n</tool_response>
 *                    (what Qwen's chat template renders for a tool message)
 * Both finish with <answer>SQL</answer>. Both accept "args" or "arguments",
 * and arguments given as a JSON text of an object.
 *
 * Bad actions never stop an episode: a tool call that is not JSON, has no
 * "name", names an unknown tool, has non-object arguments or a "query"
 * argument longer than max_query_length, and an answer longer than
 * max_query_length, each get an error result and the episode goes on. */
#ifndef RETRAIN_ENV_EPISODE_H
#define RETRAIN_ENV_EPISODE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"
#include "../model/chat.h"
#include "../model/tokenizer.h"
#include "../model/transformer.h"

/* ---- tools: what the episode calls; the MCP client provides an adapter
 * (tools/list gives the descriptions, tools/call the results). */

typedef struct env_tool {
    const char *name;
    const char *description;
    json_t *input_schema; /* a JSON Schema object; borrowed */
} env_tool;

/* Calls tool `name` (one of the set's) with args (a JSON object,
 * borrowed). Appends the result text to *text and sets *is_error to 1 for
 * a tool-level error (MCP's isError: the model sees an error result).
 * Returns 0; -1 with a one-line message in e only when the tools cannot be
 * reached at all (a transport that went away) - the episode then ends with
 * EP_END_TOOL_FAILURE and the message in end_detail. */
typedef int (*env_tool_call_fn)(void *user, const char *name, json_t *args, buf_t *text,
                                int *is_error, err_t *e);

typedef struct env_tools {
    int n;
    const env_tool *tools; /* [n] */
    env_tool_call_fn call;
    void *user;
} env_tools;

/* ---- configuration */

typedef enum ep_wire { EP_WIRE_SPIDER2, EP_WIRE_HERMES } ep_wire;

/* "spider2", "hermes" -> wire; -1 for another name. */
int ep_wire_parse(const char *name, ep_wire *out);
const char *ep_wire_name(ep_wire w);
/* The format a model of this chat format was trained on: Hermes for
 * ChatML (Qwen), Spider 2.0's tags otherwise. */
ep_wire ep_wire_default(chat_format f);

typedef struct ep_config {
    chat_format chat;
    ep_wire wire;
    int max_steps;             /* model turns, >= 1 (the guide's 20) */
    int max_query_length;      /* characters (code points) of a "query" argument or an
                                  answer's SQL; longer is refused; 0: no limit */
    int max_turn_tokens;       /* new tokens per model turn, >= 1 */
    int max_completion_tokens; /* tokens after the prompt, model's and environment's
                                  together (TRL's max_completion_length); 0: no limit */
    int max_prompt_tokens;     /* the prompt's budget; 0: no limit */
    /* 0 (the default): a turn with neither a tool call nor an answer ends
     * the episode (EP_END_NO_ACTION / EP_END_TURN_LIMIT). 1: it gets an
     * error result that restates the format, and the episode goes on. */
    int continue_without_action;
} ep_config;

/* chatml, its default wire (Hermes), max_steps 20, max_query_length 1000,
 * max_turn_tokens 512, max_completion_tokens 4096, max_prompt_tokens 4096. */
void ep_config_default(ep_config *c);
/* 0, or -1 naming the field that is out of range. */
int ep_config_check(const ep_config *c, err_t *e);

/* ---- prompts */

typedef struct ep_task {
    const char *id;        /* instance_id, for messages and logs */
    const char *question;
    const char *db;        /* the database's name */
    const char *knowledge; /* the external-knowledge document's text; NULL or "": none */
    /* This task's tools (its database's server), or NULL: the tools given
     * to ep_run. Lets one run batch tasks of different databases. */
    const env_tools *tools;
} ep_task;

typedef struct ep_prompt {
    char *text;         /* the rendered chat, ending where the model's reply begins */
    int32_t *tokens;    /* [n_tokens] */
    int n_tokens;
    int knowledge_truncated; /* 1 when the knowledge text was cut to fit */
    size_t knowledge_bytes;  /* bytes of the knowledge text kept */
} ep_prompt;

/* The system text alone (tools and answer format): what the model is told.
 * Appends to out. */
void ep_system_text(const ep_config *c, const env_tools *tools, buf_t *out);

/* Builds the prompt of one task. When it is over max_prompt_tokens, the
 * knowledge text is cut (at a character boundary) and ends with
 * "[... external knowledge truncated ...]"; the question and the tools
 * never are. An error when even no knowledge does not fit. Special tokens
 * of the chat format become their ids (as apply_chat_template's text
 * tokenised by Hugging Face); a tokenizer that adds BOS gets it first. */
int ep_prompt_build(const ep_config *c, const tok_t *t, const env_tools *tools,
                    const ep_task *task, ep_prompt *out, err_t *e);
void ep_prompt_free(ep_prompt *p);

/* ---- the record */

typedef enum ep_end {
    EP_END_RUNNING,      /* not finished (only while ep_run runs) */
    EP_END_ANSWER,       /* <answer> given: final_sql is set */
    EP_END_MAX_STEPS,    /* max_steps turns without an answer */
    EP_END_NO_ACTION,    /* the model ended its turn with neither a call nor an answer */
    EP_END_TURN_LIMIT,   /* a turn reached max_turn_tokens with neither */
    EP_END_BUDGET,       /* max_completion_tokens spent */
    EP_END_TOOL_FAILURE, /* the tools could not be reached (end_detail says why) */
} ep_end;
const char *ep_end_name(ep_end r); /* "answer", "max_steps", ... */

typedef enum ep_seg_kind { EP_SEG_PROMPT, EP_SEG_MODEL, EP_SEG_ENV } ep_seg_kind;

/* A run of tokens of one origin: tokens [tok0, tok0 + ntok) whose bytes
 * are text[byte0, byte0 + nbytes). */
typedef struct ep_segment {
    ep_seg_kind kind;
    int turn; /* the model turn it is (MODEL) or follows (ENV); 0 for the prompt */
    int tok0, ntok;
    size_t byte0, nbytes;
} ep_segment;

typedef struct ep_call {
    int turn;       /* 1-based model turn */
    char *name;     /* as the model wrote it; NULL where it gave none */
    json_t *args;   /* the parsed arguments (owned); NULL where they did not parse */
    char *raw;      /* the text between the tags, as written */
    char *result;   /* what the model is shown inside the result tags (errors begin "Error: ") */
    int is_error;   /* an error result: from the tool, or a call refused before it */
    int executed;   /* 1: the tool ran; 0: refused (malformed, unknown tool, too long) */
    double ms;      /* wall time of the tool call */
} ep_call;

typedef struct ep_episode {
    int task, sample;  /* which task of ep_run and which of its G samples */
    /* the sequence: [n_tokens] each */
    int32_t *tokens;
    uint8_t *from_model; /* 1 where the policy sampled the token */
    float *logprobs;     /* its sampling log-probability there, 0 elsewhere */
    int n_tokens, cap_tokens;
    int n_prompt;        /* tokens [0, n_prompt) are the prompt */
    int n_model, n_env;  /* sampled tokens; environment tokens after the prompt */
    buf_t text;          /* the bytes of all tokens, in order (raw: may split a character) */
    ep_segment *segs;
    int n_segs, cap_segs;
    ep_call *calls;
    int n_calls, cap_calls;
    int n_call_errors;    /* calls with is_error */
    int n_refused_answers; /* answers over max_query_length */
    char *final_sql;     /* the answer's SQL (trimmed, code fence removed); NULL: none */
    ep_end end;
    char *end_detail;    /* one line on why it ended, or NULL */
    int turns;           /* model turns taken */
    int knowledge_truncated;
} ep_episode;

void ep_episode_free(ep_episode *ep);

/* Readable text of an episode (for DEBUG logs and reports): a header line
 * (end, turns, counts, final SQL), then each segment under a line saying
 * whose it is ("--- prompt", "--- model, turn 2 (31 tokens)",
 * "--- environment"). Appends to out. */
void ep_format(const ep_episode *ep, buf_t *out);
/* The record as JSON: tokens, from_model (0/1), logprobs, n_prompt,
 * segments, calls, final_sql, end, turns, counts, text (invalid UTF-8
 * replaced by U+FFFD). A new reference. */
json_t *ep_to_json(const ep_episode *ep);

/* ---- policies: what samples the model's turns */

/* One sequence to continue. */
typedef struct ep_gen_req {
    int episode;           /* its index in ep_run's out[] */
    int turn;              /* 1-based */
    const int32_t *tokens; /* the whole sequence so far [n_tokens] */
    int n_tokens;
    int max_new;           /* at most this many new tokens (>= 1) */
    int32_t *out_tokens;   /* [max_new], owned by the caller */
    float *out_logprobs;   /* [max_new], owned by the caller */
    int n_out;             /* set by the policy: 1..max_new */
} ep_gen_req;

/* Continues the B sequences of reqs together. Sequence b ends after its new
 * text contains one of the stop strings (kept), after an end-of-turn token
 * of the model (kept), or at max_new tokens. Returns 0, or -1 with e. */
typedef int (*ep_generate_fn)(void *user, ep_gen_req *reqs, int B, const char *const *stop,
                              int n_stop, err_t *e);

typedef struct ep_policy {
    ep_generate_fn generate;
    void *user;
} ep_policy;

/* The engine: the running sequences continue together, one batched call
 * per turn, with should_stop watching the decoded text for the stop
 * strings and each sequence's max_new, and the chat format's end-of-turn
 * ids (tg_stop_ids) as stop ids. The KV cache of every episode is kept
 * between turns (tf_gen_state): a turn computes only the tokens the
 * environment appended since the last one. The log-probabilities are
 * those of the sampling distribution (temperature, top-k, top-p applied):
 * with temperature 1 and neither top-k nor top-p they are the model's
 * log-softmax, as tf_token_logprobs gives. Episode i (its index in ep_run's
 * out[]) samples from its own random stream of the seed, so what it samples
 * does not depend on which others run beside it; a run is reproducible for
 * a seed and a fresh engine (or one just reseeded). A model with a table of
 * positions (GPT-2) stops a turn where its positions end. Not thread-safe. */
typedef struct ep_engine_opts {
    float temperature; /* 0: greedy */
    int top_k;         /* 0: off */
    float top_p;       /* 0 or 1: off */
    uint64_t seed;
} ep_engine_opts;

typedef struct ep_engine ep_engine;
/* m and t are borrowed and must outlive the engine. */
ep_engine *ep_engine_new(tf_model *m, const tok_t *t, chat_format f, const ep_engine_opts *o);
void ep_engine_free(ep_engine *en);
void ep_engine_reseed(ep_engine *en, uint64_t seed);
ep_policy ep_engine_policy(ep_engine *en);

/* A scripted policy for tests and demonstrations: episode i replays
 * scripts[i % n_scripts], one text per turn. Each text is tokenised
 * (special tokens written in it become their ids) and emitted token by
 * token under the same rules as the engine (stop strings, the end-of-turn
 * ids given, max_new), so the record stays token-exact; log-probabilities
 * are 0. A turn past the end of its script is an error. */
typedef struct ep_script {
    const char *const *turns;
    int n_turns;
} ep_script;

typedef struct ep_scripted ep_scripted;
/* t, eot_ids and scripts (and their texts) are borrowed. */
ep_scripted *ep_scripted_new(const tok_t *t, const int32_t *eot_ids, int n_eot,
                             const ep_script *scripts, int n_scripts);
void ep_scripted_free(ep_scripted *s);
ep_policy ep_scripted_policy(ep_scripted *s);

/* ---- running episodes */

typedef struct ep_run_stats {
    int gen_calls;       /* batched policy calls */
    double gen_ms;       /* wall time in the policy */
    double tool_ms;      /* wall time in tool calls */
    long model_tokens;   /* sampled tokens, all episodes */
} ep_run_stats;

/* Runs G episodes for each of n_tasks tasks to their end: out[k * G + g]
 * (n_tasks * G of them, filled here; free each with ep_episode_free) is
 * sample g of task k; the G samples of a task share its prompt. Every turn
 * gathers the running episodes into one policy call (max_new: the smaller
 * of max_turn_tokens and the completion tokens the episode has left),
 * then runs their tool calls one after another (each episode calls its
 * task's tools: tasks[k].tools, else `tools`). After turn max_steps the
 * episode ends: a tool call made in that turn still runs and is recorded,
 * but its result is not appended (the model would never read it). A reply
 * that does not fit in the completion budget is not appended either
 * (EP_END_BUDGET). At LOG_DEBUG every episode is logged with ep_format.
 * Returns 0, or -1 with e (bad configuration, a prompt that does not fit,
 * a policy failure), and then out holds nothing to free. stats may be
 * NULL. */
int ep_run(const ep_config *c, const tok_t *t, const env_tools *tools, const ep_policy *p,
           const ep_task *tasks, int n_tasks, int G, ep_episode *out, ep_run_stats *stats,
           err_t *e);

#endif

/* retrain generate: sample from a Hugging Face model directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../env/env.h"
#include "../env/episode.h"
#include "../model/textgen.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrain generate MODEL_DIR --prompt TEXT [--max-new-tokens N]\n"
            "                        [--temperature T] [--top-p P] [--top-k K] [--seed S]\n"
            "                        [--chat] [--system TEXT] [--chat-format NAME]\n"
            "                        [--stop TEXT]... [--bf16]\n"
            "       retrain generate MODEL_DIR --db URL --prompt QUESTION [--max-steps N]\n"
            "                        [--max-new-tokens N] [--temperature T] [--wire W] ...\n"
            "\n"
            "Prints the continuation of TEXT (greedy at temperature 0, the default).\n"
            "With --db: answers QUESTION as an agent on that database, as in training and\n"
            "evaluation: the prompt lists the tools of a read-only `retrain mcp-db` server\n"
            "for URL, the model calls them turn by turn (--max-new-tokens per turn) and\n"
            "answers with <answer>SQL</answer>; prints the episode after the prompt, then\n"
            "the answer's result as CSV.\n"
            "  --db URL           sqlite:///path, postgresql://..., duckdb:///path\n"
            "  --db-name NAME     the database's name in the prompt (default: the SQLite or\n"
            "                     DuckDB file's name without its extension, else \"db\")\n"
            "  --max-steps N      model turns (default 6)\n"
            "  --wire W           spider2 (<tool>) or hermes (<tool_call>); default: the\n"
            "                     chat format's\n"
            "  --chat             render TEXT as a user turn in the model's chat format\n"
            "  --system TEXT      with --chat: a system message first\n"
            "  --chat-format F    chatml, llama3 or dialogpt instead of the detected one\n"
            "  --stop TEXT        also stop once the output contains TEXT (repeatable)\n"
            "  --bf16             hold the weights in bfloat16\n");
}

static int parse_num(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "retrain generate: %s needs a number from %g to %g, got '%s'\n", flag, lo,
                hi, v ? v : "");
        return -1;
    }
    *out = x;
    return 0;
}

typedef struct agent_opts {
    const char *url, *name, *wire;
    int max_steps, turn_tokens;
} agent_opts;

/* The database's name in the prompt: a file's name without extension. */
static char *db_name_of(const char *url)
{
    const char *p = NULL;
    if (!strncmp(url, "sqlite:///", 10))
        p = url + 10;
    else if (!strncmp(url, "duckdb:///", 10))
        p = url + 10;
    if (!p || !*p)
        return xstrdup("db");
    const char *base = strrchr(p, '/');
    base = base ? base + 1 : p;
    const char *dot = strrchr(base, '.');
    return xstrndup(base, dot && dot > base ? (size_t)(dot - base) : strlen(base));
}

/* One episode on the database: its MCP server's tools, the engine's policy. */
static int run_agent(tf_model *m, tok_t *tok, chat_format f, const char *question,
                     const agent_opts *a, const tg_opts *g)
{
    if (!strncmp(a->url, "sqlite:///", 10) && !file_exists(a->url + 10)) {
        fprintf(stderr, "retrain generate: --db %s: no such SQLite file\n", a->url);
        return 2;
    }
    char *name = a->name ? xstrdup(a->name) : db_name_of(a->url);
    env_task t = {.instance_id = "question", .db = name, .question = (char *)question,
                  .engine = "sqlite", .url = (char *)a->url};
    env_tasks ts = {.path = "the command line", .items = &t, .n = 1};
    strlist_init(&ts.skip_reasons);
    err_t e;
    int rc = 2;
    ep_config ec;
    ep_config_default(&ec);
    ec.chat = f;
    ec.wire = ep_wire_default(f);
    ec.max_steps = a->max_steps;
    ec.max_turn_tokens = a->turn_tokens;
    ec.max_completion_tokens = 0;
    ec.max_prompt_tokens = 0;
    if (a->wire && ep_wire_parse(a->wire, &ec.wire) != 0) {
        fprintf(stderr, "retrain generate: --wire must be spider2 or hermes, got '%s'\n", a->wire);
        free(name);
        return 2;
    }
    env_mcp_opts mo = {.query_timeout_ms = 30000};
    env_mcp *mcp = env_mcp_new(&ts, &mo, &e);
    const env_tools *tools = NULL;
    if (!mcp || env_mcp_tools(mcp, name, &tools, &e) != 0) {
        fprintf(stderr, "retrain generate: %s\n", e.msg);
        env_mcp_free(mcp);
        free(name);
        return 2;
    }
    ep_engine_opts eo = {.temperature = g->temperature, .top_k = g->top_k, .top_p = g->top_p,
                         .seed = g->seed};
    ep_engine *eng = ep_engine_new(m, tok, f, &eo);
    ep_policy pol = ep_engine_policy(eng);
    ep_task task = {"question", question, name, NULL, tools};
    ep_episode ep;
    memset(&ep, 0, sizeof ep);
    if (ep_run(&ec, tok, NULL, &pol, &task, 1, 1, &ep, NULL, &e) != 0) {
        fprintf(stderr, "retrain generate: %s\n", e.msg);
    } else {
        buf_t b;
        buf_init(&b);
        ep_format(&ep, &b);
        /* the episode after the prompt (the prompt is the same every time) */
        const char *from = b.data ? strstr(b.data, "--- model") : NULL;
        const char *head_end = b.data ? strstr(b.data, "--- prompt") : NULL;
        if (head_end)
            fwrite(b.data, 1, (size_t)(head_end - b.data), stdout);
        fputs(from ? from : "", stdout);
        if (ep.final_sql) {
            env_executor x;
            env_mcp_executor(mcp, &x);
            env_table tab;
            env_table_init(&tab);
            err_t xe;
            printf("--- the answer's result\n");
            if (x.run(x.ctx, name, ep.final_sql, 20, 30000, &tab, &xe) == 0) {
                buf_t csv;
                buf_init(&csv);
                env_csv_write(&tab, &csv);
                fwrite(csv.data ? csv.data : "", 1, csv.len, stdout);
                if (tab.truncated)
                    printf("(first 20 rows)\n");
                buf_free(&csv);
            } else {
                printf("Error: %s\n", xe.msg);
            }
            env_table_free(&tab);
            if (x.close)
                x.close(x.ctx);
        }
        buf_free(&b);
        rc = 0;
    }
    ep_episode_free(&ep);
    ep_engine_free(eng);
    env_mcp_free(mcp);
    strlist_free(&ts.skip_reasons);
    free(name);
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    const char *dir = NULL, *prompt = NULL, *system = NULL, *format = NULL;
    const char *agent_db = NULL, *db_name = NULL, *wire = NULL;
    int chat = 0, bf16 = 0, max_steps = 6, new_tokens_given = 0;
    const char **stops = xcalloc((size_t)argc + 1, sizeof *stops);
    tg_opts o = {.max_new_tokens = 64, .temperature = 0, .top_k = 0, .top_p = 1, .seed = 0};
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(stops);
            return 0;
        } else if (!strcmp(a, "--prompt") && v) {
            prompt = v, i++;
        } else if (!strcmp(a, "--system") && v) {
            system = v, i++;
        } else if (!strcmp(a, "--chat-format") && v) {
            format = v, i++;
        } else if (!strcmp(a, "--stop") && v) {
            stops[o.n_stop_strings++] = v, i++;
        } else if (!strcmp(a, "--db") && v) {
            agent_db = v, i++;
        } else if (!strcmp(a, "--db-name") && v) {
            db_name = v, i++;
        } else if (!strcmp(a, "--wire") && v) {
            wire = v, i++;
        } else if (!strcmp(a, "--max-steps")) {
            if (parse_num(a, v, 1, 1000, &x) != 0)
                goto out;
            max_steps = (int)x, i++;
        } else if (!strcmp(a, "--chat")) {
            chat = 1;
        } else if (!strcmp(a, "--bf16")) {
            bf16 = 1;
        } else if (!strcmp(a, "--max-new-tokens")) {
            if (parse_num(a, v, 1, 1 << 20, &x) != 0)
                goto out;
            o.max_new_tokens = (int)x, i++;
            new_tokens_given = 1;
        } else if (!strcmp(a, "--temperature")) {
            if (parse_num(a, v, 0, 100, &x) != 0)
                goto out;
            o.temperature = (float)x, i++;
        } else if (!strcmp(a, "--top-p")) {
            if (parse_num(a, v, 0, 1, &x) != 0)
                goto out;
            o.top_p = (float)x, i++;
        } else if (!strcmp(a, "--top-k")) {
            if (parse_num(a, v, 0, 1 << 30, &x) != 0)
                goto out;
            o.top_k = (int)x, i++;
        } else if (!strcmp(a, "--seed")) {
            if (parse_num(a, v, 0, 1.8e19, &x) != 0)
                goto out;
            o.seed = (uint64_t)x, i++;
        } else if (a[0] != '-' && !dir) {
            dir = a;
        } else {
            fprintf(stderr, "retrain generate: unknown or incomplete option '%s' (see --help)\n",
                    a);
            goto out;
        }
    }
    if (!dir || !prompt) {
        fprintf(stderr, "retrain generate: needs MODEL_DIR and --prompt TEXT (see --help)\n");
        goto out;
    }
    o.stop_strings = stops;
    err_t e;
    if (hf_model_dir_check(dir, &e) != 0) {
        fprintf(stderr, "retrain generate: %s\n", e.msg);
        goto out;
    }
    tok_t *tok = tok_load(dir, &e);
    if (!tok) {
        fprintf(stderr, "retrain generate: %s\n", e.msg);
        goto out;
    }
    tf_load_opts lo = {.linear_bf16 = bf16};
    tf_model *m = tf_load(dir, &lo, &e);
    if (!m) {
        fprintf(stderr, "retrain generate: %s\n", e.msg);
        tok_free(tok);
        goto out;
    }
    chat_format f = chat_detect(tok);
    if (format && chat_format_parse(format, &f) != 0) {
        fprintf(stderr, "retrain generate: --chat-format must be chatml, llama3 or dialogpt, got "
                        "'%s'\n", format);
        tf_free(m);
        tok_free(tok);
        goto out;
    }
    if (agent_db) {
        agent_opts ao = {.url = agent_db, .name = db_name, .wire = wire, .max_steps = max_steps,
                         .turn_tokens = new_tokens_given ? o.max_new_tokens : 256};
        rc = run_agent(m, tok, f, prompt, &ao, &o);
        tf_free(m);
        tok_free(tok);
        goto out;
    }
    buf_t text, outb;
    buf_init(&text);
    buf_init(&outb);
    if (chat) {
        chat_msg msgs[2];
        size_t nm = 0;
        if (system)
            msgs[nm++] = (chat_msg){"system", system};
        msgs[nm++] = (chat_msg){"user", prompt};
        chat_render(f, tok, msgs, nm, 1, &text);
    } else {
        buf_puts(&text, prompt);
    }
    if (tg_generate(m, tok, f, text.data, &o, &outb, NULL, &e) != 0) {
        fprintf(stderr, "retrain generate: %s\n", e.msg);
    } else {
        fwrite(outb.data ? outb.data : "", 1, outb.len, stdout);
        fputc('\n', stdout);
        rc = 0;
    }
    buf_free(&text);
    buf_free(&outb);
    tf_free(m);
    tok_free(tok);
out:
    free(stops);
    return rc;
}

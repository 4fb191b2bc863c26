/* retrain eval: run a model on Spider 2.0 tasks as an agent over MCP (or
 * score a folder of predicted SQL) with the official execution-accuracy
 * rule; write a submission folder and reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../env/env.h"
#include "../env/episode.h"
#include "../model/textgen.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrain eval [CONFIG.json] --model DIR --tasks FILE.jsonl --gold-dir DIR\n"
            "                    --out DIR [--sqlite-dir DIR] [--db NAME=URL]... [--documents DIR]\n"
            "                    [--limit N] [--max-steps N] [--wire spider2|hermes]\n"
            "                    [--temperature T] [--seed S] [--batch N] [--max-turn-tokens N]\n"
            "                    [--mcp-config FILE | --mcp-server-url URL] [--episodes]\n"
            "                    [--strict] [--max-rows N] [--timeout-ms MS] [--no-progress]\n"
            "       retrain eval [CONFIG.json] --sql-dir DIR --tasks FILE.jsonl --gold-dir DIR\n"
            "                    --out DIR [--sqlite-dir DIR] ... [--direct]\n"
            "\n"
            "With --model: runs the model as an agent on every task whose database is here.\n"
            "Each task's prompt lists its database's MCP tools (one read-only `retrain mcp-db`\n"
            "server per database, started on first use); the model explores with tool calls\n"
            "and answers with <answer>SQL</answer>. The answer is written as --out/<id>.sql,\n"
            "run through the database's MCP server, written as --out/<id>.csv (as pandas\n"
            "would) and scored as Spider 2.0's evaluate.py does; a task without an answer\n"
            "scores 0. report.json and report.md give the accuracy (overall and per\n"
            "database), and per task the score, turns, tool calls, tool errors and how the\n"
            "episode ended. With --sql-dir: scores one <instance_id>.sql per task instead.\n"
            "Tasks whose engine or database is not available here are skipped and counted.\n"
            "\n"
            "  --model DIR        a model directory in Hugging Face layout (config.json,\n"
            "                     model.safetensors, tokenizer.json)\n"
            "  --tasks FILE       Spider 2.0-Lite, -Snow or -DBT task file (jsonl)\n"
            "  --gold-dir DIR     evaluation_suite/gold layout: spider2lite_eval.jsonl, exec_result/\n"
            "  --sql-dir DIR      the predictions, one <instance_id>.sql per task\n"
            "  --out DIR          the submission folder and reports (created)\n"
            "  --sqlite-dir DIR   SQLite databases as <db>.sqlite\n"
            "  --db NAME=URL      database NAME at URL (postgresql://, duckdb:///, sqlite:///);\n"
            "                     wins over --sqlite-dir (repeatable)\n"
            "  --documents DIR    external-knowledge documents (with --model: default\n"
            "                     resource/documents/ or documents/ beside the task file)\n"
            "  --limit N          run at most N tasks, the first in id order\n"
            "  --max-steps N      model turns per episode (default 20)\n"
            "  --wire W           tool-call format: spider2 (<tool>) or hermes (<tool_call>);\n"
            "                     default: the model's (hermes for ChatML models)\n"
            "  --temperature T    sampling temperature (default 0: greedy)\n"
            "  --seed S           sampling seed (default 0)\n"
            "  --batch N          tasks whose episodes run together (default 8)\n"
            "  --max-turn-tokens N  new tokens per model turn (default 512)\n"
            "  --max-prompt-tokens N  the prompt's budget; the external knowledge is cut to\n"
            "                     fit (default 4096; 0: none)\n"
            "  --max-completion-tokens N  tokens after the prompt, the model's and the tools'\n"
            "                     together (default 4096; 0: none)\n"
            "  --mcp-config FILE  the MCP servers to use instead ({\"mcpServers\": {...}}): a\n"
            "                     database uses the server named after it, else all of them;\n"
            "                     a database with a server named after it needs no local\n"
            "                     copy (--sqlite-dir, --db) unless --direct\n"
            "  --mcp-server-url URL  one Streamable HTTP MCP server that every task shares\n"
            "  --episodes         also write each episode's text as --out/episodes/<id>.txt\n"
            "  --direct           run predicted SQL on direct read-only connections, not MCP\n"
            "  --strict           rows must line up across columns (the official rule matches\n"
            "                     each column on its own)\n"
            "  --max-rows N       keep at most N result rows (default: all)\n"
            "  --timeout-ms MS    stop a statement after MS milliseconds (default 60000; 0: none)\n"
            "\n"
            "CONFIG.json may give the same settings: model.name_or_path (the model),\n"
            "environment.env_specific_config {spider2_data_path, max_steps, max_query_length,\n"
            "mcp_server_url, enable_external_knowledge}, a top-level mcpServers object, and an\n"
            "\"eval\" object (model, tasks, gold_dir, sql_dir, out, sqlite_dir, databases\n"
            "{NAME: URL}, documents, strict, max_rows, timeout_ms, limit, max_steps, wire,\n"
            "temperature, seed, batch, max_turn_tokens, max_prompt_tokens, max_completion_tokens,\n"
            "mcp_config, mcp_server_url, episodes,\n"
            "direct). Flags override the config.\n");
}

typedef struct settings {
    char *tasks, *gold_dir, *sql_dir, *out, *sqlite_dir, *documents;
    strlist_t db_names, db_urls;
    int strict, direct, episodes, no_knowledge;
    long max_rows, timeout_ms;
    /* the model-driven run */
    char *model, *wire, *mcp_config, *mcp_url;
    long limit, max_steps, max_query_length, batch, max_turn_tokens, seed;
    long max_prompt_tokens, max_completion_tokens;
    double temperature;
    json_t *mcp_servers; /* a config's mcpServers object, or NULL */
    char *config_path;
} settings;

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = xstrdup(v);
}

static int set_db(settings *s, const char *name, const char *url)
{
    int k = strlist_index(&s->db_names, name);
    if (k >= 0) {
        free(s->db_urls.items[k]);
        s->db_urls.items[k] = xstrdup(url);
    } else {
        strlist_push(&s->db_names, name);
        strlist_push(&s->db_urls, url);
    }
    return 0;
}

/* An integer >= lo at key path `path`; one line naming it otherwise. */
static int cfg_long(const char *file, const char *path, json_t *v, long lo, long *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo) {
        fprintf(stderr, "retrain eval: %s: %s: expected an integer >= %ld\n", file, path, lo);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

static int cfg_str(const char *file, const char *path, json_t *v, char **out)
{
    if (!json_is_string(v)) {
        fprintf(stderr, "retrain eval: %s: %s: expected a string\n", file, path);
        return -1;
    }
    set_str(out, json_string_value(v));
    return 0;
}

/* The keys of training.md's config that eval reads: model.name_or_path,
 * environment.env_specific_config.{spider2_data_path, max_steps,
 * max_query_length, mcp_server_url, enable_external_knowledge}, and a
 * top-level mcpServers object. Other keys belong to training. */
static int load_shared_keys(const char *path, json_t *root, settings *s)
{
    json_t *model = json_object_get(root, "model");
    json_t *np = json_object_get(model, "name_or_path");
    if (np && !json_is_null(np) && cfg_str(path, "model.name_or_path", np, &s->model) != 0)
        return -1;
    json_t *esc = json_object_get(json_object_get(root, "environment"), "env_specific_config");
    json_t *v = json_object_get(esc, "spider2_data_path");
    if (v && !json_is_null(v) &&
        cfg_str(path, "environment.env_specific_config.spider2_data_path", v, &s->tasks) != 0)
        return -1;
    if ((v = json_object_get(esc, "max_steps")) &&
        cfg_long(path, "environment.env_specific_config.max_steps", v, 1, &s->max_steps) != 0)
        return -1;
    if ((v = json_object_get(esc, "max_query_length")) &&
        cfg_long(path, "environment.env_specific_config.max_query_length", v, 0,
                 &s->max_query_length) != 0)
        return -1;
    v = json_object_get(esc, "mcp_server_url");
    if (v && !json_is_null(v) &&
        cfg_str(path, "environment.env_specific_config.mcp_server_url", v, &s->mcp_url) != 0)
        return -1;
    if ((v = json_object_get(esc, "enable_external_knowledge"))) {
        if (!json_is_boolean(v)) {
            fprintf(stderr, "retrain eval: %s: environment.env_specific_config."
                            "enable_external_knowledge: expected true or false\n", path);
            return -1;
        }
        s->no_knowledge = json_is_false(v);
    }
    if ((v = json_object_get(root, "mcpServers"))) {
        if (!json_is_object(v)) {
            fprintf(stderr, "retrain eval: %s: mcpServers: expected an object of named servers\n",
                    path);
            return -1;
        }
        json_decref(s->mcp_servers);
        s->mcp_servers = json_incref(v);
    }
    return 0;
}

/* Reads the config's "eval" object (and the keys above); one line naming
 * the key path on a wrong key or type. */
static int load_config(const char *path, settings *s)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        fprintf(stderr, "retrain eval: %s:%d: %s\n", path, je.line, je.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        fprintf(stderr, "retrain eval: %s: expected a JSON object\n", path);
        goto out;
    }
    set_str(&s->config_path, path);
    if (load_shared_keys(path, root, s) != 0)
        goto out;
    json_t *ev = json_object_get(root, "eval");
    if (ev && !json_is_object(ev)) {
        fprintf(stderr, "retrain eval: %s: eval: expected an object\n", path);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(ev, k, v)
    {
        static const struct {
            const char *key;
            size_t off;
        } strs[] = {
            {"tasks", offsetof(settings, tasks)},       {"gold_dir", offsetof(settings, gold_dir)},
            {"sql_dir", offsetof(settings, sql_dir)},   {"out", offsetof(settings, out)},
            {"sqlite_dir", offsetof(settings, sqlite_dir)},
            {"documents", offsetof(settings, documents)},
            {"model", offsetof(settings, model)},       {"wire", offsetof(settings, wire)},
            {"mcp_config", offsetof(settings, mcp_config)},
            {"mcp_server_url", offsetof(settings, mcp_url)},
        };
        static const struct {
            const char *key;
            size_t off;
            long lo;
        } longs[] = {
            {"max_rows", offsetof(settings, max_rows), 0},
            {"timeout_ms", offsetof(settings, timeout_ms), 0},
            {"limit", offsetof(settings, limit), 0},
            {"seed", offsetof(settings, seed), 0},
            {"max_steps", offsetof(settings, max_steps), 1},
            {"batch", offsetof(settings, batch), 1},
            {"max_turn_tokens", offsetof(settings, max_turn_tokens), 1},
            {"max_query_length", offsetof(settings, max_query_length), 0},
            {"max_prompt_tokens", offsetof(settings, max_prompt_tokens), 0},
            {"max_completion_tokens", offsetof(settings, max_completion_tokens), 0},
        };
        static const struct {
            const char *key;
            size_t off;
        } bools[] = {
            {"strict", offsetof(settings, strict)},
            {"episodes", offsetof(settings, episodes)},
            {"direct", offsetof(settings, direct)},
        };
        char kp[300];
        snprintf(kp, sizeof kp, "eval.%s", k);
        int done = 0;
        for (size_t i = 0; i < ARRAY_LEN(strs) && !done; i++) {
            if (strcmp(k, strs[i].key) != 0)
                continue;
            if (cfg_str(path, kp, v, (char **)((char *)s + strs[i].off)) != 0)
                goto out;
            done = 1;
        }
        for (size_t i = 0; i < ARRAY_LEN(longs) && !done; i++) {
            if (strcmp(k, longs[i].key) != 0)
                continue;
            if (cfg_long(path, kp, v, longs[i].lo, (long *)((char *)s + longs[i].off)) != 0)
                goto out;
            done = 1;
        }
        for (size_t i = 0; i < ARRAY_LEN(bools) && !done; i++) {
            if (strcmp(k, bools[i].key) != 0)
                continue;
            if (!json_is_boolean(v)) {
                fprintf(stderr, "retrain eval: %s: %s: expected true or false\n", path, kp);
                goto out;
            }
            *(int *)((char *)s + bools[i].off) = json_is_true(v);
            done = 1;
        }
        if (done)
            continue;
        if (!strcmp(k, "temperature")) {
            if (!json_is_number(v) || json_number_value(v) < 0) {
                fprintf(stderr, "retrain eval: %s: eval.temperature: expected a number >= 0\n",
                        path);
                goto out;
            }
            s->temperature = json_number_value(v);
        } else if (!strcmp(k, "databases")) {
            if (!json_is_object(v)) {
                fprintf(stderr, "retrain eval: %s: eval.databases: expected an object of "
                                "NAME: URL\n", path);
                goto out;
            }
            const char *name;
            json_t *url;
            json_object_foreach(v, name, url)
            {
                if (!json_is_string(url)) {
                    fprintf(stderr, "retrain eval: %s: eval.databases.%s: expected a URL string\n",
                            path, name);
                    goto out;
                }
                set_db(s, name, json_string_value(url));
            }
        } else {
            fprintf(stderr, "retrain eval: %s: eval.%s: unknown key\n", path, k);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int need_dir(const char *flag, const char *p)
{
    if (p && !is_dir(p)) {
        fprintf(stderr, "retrain eval: %s %s: no such directory\n", flag, p);
        return -1;
    }
    return 0;
}

static void settings_free(settings *s)
{
    free(s->tasks), free(s->gold_dir), free(s->sql_dir), free(s->out), free(s->sqlite_dir);
    free(s->documents), free(s->model), free(s->wire), free(s->mcp_config), free(s->mcp_url);
    free(s->config_path);
    json_decref(s->mcp_servers);
    strlist_free(&s->db_names);
    strlist_free(&s->db_urls);
}

/* The user's MCP servers (--mcp-config FILE, --mcp-server-url, or the
 * config's mcpServers / mcp_server_url), as one config object with its
 * name for errors; *cfg NULL when there are none. */
static int user_servers(const settings *s, json_t **cfg, char *where, size_t n)
{
    *cfg = NULL;
    if (s->mcp_config) {
        json_error_t je;
        json_t *j = json_load_file(s->mcp_config, JSON_REJECT_DUPLICATES, &je);
        if (!j) {
            if (je.line <= 0)
                fprintf(stderr, "retrain eval: %s: %s\n", s->mcp_config, je.text);
            else
                fprintf(stderr, "retrain eval: %s:%d:%d: not valid JSON: %s\n", s->mcp_config,
                        je.line, je.column, je.text);
            return -1;
        }
        snprintf(where, n, "%s", s->mcp_config);
        *cfg = j;
    } else if (s->mcp_servers) {
        snprintf(where, n, "%s: mcpServers", s->config_path ? s->config_path : "config");
        *cfg = json_pack("{s:O}", "mcpServers", s->mcp_servers);
    }
    if (s->mcp_url) {
        if (!*cfg) {
            snprintf(where, n, "%s", "mcp_server_url");
            *cfg = json_object();
        }
        json_object_set_new(*cfg, "mcp_server_url", json_string(s->mcp_url));
    }
    return 0;
}

/* documents beside the task file: resource/documents/ (Spider 2.0's
 * layout) or documents/; NULL when neither is there. */
static char *default_documents(const char *tasks)
{
    const char *slash = strrchr(tasks, '/');
    char *dir = slash ? xstrndup(tasks, (size_t)(slash - tasks)) : xstrdup(".");
    const char *subs[] = {"resource/documents", "documents"};
    char *found = NULL;
    for (size_t i = 0; i < ARRAY_LEN(subs) && !found; i++) {
        buf_t b;
        buf_init(&b);
        buf_printf(&b, "%s/%s", dir, subs[i]);
        if (is_dir(b.data))
            found = buf_take(&b);
        buf_free(&b);
    }
    free(dir);
    return found;
}

static void print_summary(json_t *report, const char *out)
{
    printf("accuracy %.4f: %lld correct of %lld evaluated (%lld tasks, %lld skipped); "
           "report in %s/report.json\n",
           json_real_value(json_object_get(report, "accuracy")),
           (long long)json_integer_value(json_object_get(report, "correct")),
           (long long)json_integer_value(json_object_get(report, "evaluated")),
           (long long)json_integer_value(json_object_get(report, "total")),
           (long long)(json_integer_value(json_object_get(report, "total")) -
                       json_integer_value(json_object_get(report, "evaluated"))),
           out);
    json_t *a = json_object_get(report, "agent");
    if (a)
        printf("agent: %lld answered, %lld without an answer, %lld whose SQL failed; "
               "%.2f turns per task; tool use %.2f%% (%lld calls, %lld errors)\n",
               (long long)json_integer_value(json_object_get(a, "answered")),
               (long long)json_integer_value(json_object_get(a, "no_answer")),
               (long long)json_integer_value(json_object_get(a, "sql_errors")),
               json_real_value(json_object_get(a, "mean_turns")),
               100 * json_real_value(json_object_get(a, "tool_use_rate")),
               (long long)json_integer_value(json_object_get(a, "tool_calls")),
               (long long)json_integer_value(json_object_get(a, "tool_errors")));
}

/* The model, its tokenizer and chat format; -1 after one line on stderr. */
static int load_model(const char *dir, tf_model **m, tok_t **tok)
{
    err_t e;
    *m = NULL;
    *tok = NULL;
    if (hf_model_dir_check(dir, &e) != 0) {
        fprintf(stderr, "retrain eval: --model %s\n", e.msg);
        return -1;
    }
    buf_t cfg;
    buf_init(&cfg);
    buf_printf(&cfg, "%s/config.json", dir);
    int has_cfg = file_exists(cfg.data);
    buf_free(&cfg);
    if (!has_cfg) {
        fprintf(stderr, "retrain eval: --model %s: not a model directory: no config.json (a "
                        "model directory holds config.json, model.safetensors and "
                        "tokenizer.json)\n", dir);
        return -1;
    }
    *tok = tok_load(dir, &e);
    if (*tok)
        *m = tf_load(dir, NULL, &e);
    if (!*m) {
        fprintf(stderr, "retrain eval: --model %s\n", e.msg);
        tok_free(*tok);
        *tok = NULL;
        return -1;
    }
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    settings s;
    memset(&s, 0, sizeof s);
    strlist_init(&s.db_names);
    strlist_init(&s.db_urls);
    s.timeout_ms = 60000;
    s.max_steps = 20;
    s.max_query_length = 1000;
    s.batch = 8;
    s.max_turn_tokens = 512;
    s.max_prompt_tokens = 4096;
    s.max_completion_tokens = 4096;
    int rc = 2, progress = 1;
    const char *config = NULL;
    static const char *const bare[] = {"--strict", "--no-progress", "--direct", "--episodes"};
    /* The config first, so that flags override it wherever they stand. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            settings_free(&s);
            return 0;
        }
        if (a[0] == '-') {
            int flag = 0;
            for (size_t k = 0; k < ARRAY_LEN(bare); k++)
                flag |= !strcmp(a, bare[k]);
            if (!flag)
                i++; /* skip the flag's value */
            continue;
        }
        if (config) {
            fprintf(stderr, "retrain eval: unexpected argument '%s' (see --help)\n", a);
            goto out;
        }
        config = a;
    }
    if (config && load_config(config, &s) != 0)
        goto out;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char **slot = NULL;
        long *num = NULL, lo = 0;
        if (a == config)
            continue;
        if (!strcmp(a, "--strict")) {
            s.strict = 1;
            continue;
        }
        if (!strcmp(a, "--no-progress")) {
            progress = 0;
            continue;
        }
        if (!strcmp(a, "--direct")) {
            s.direct = 1;
            continue;
        }
        if (!strcmp(a, "--episodes")) {
            s.episodes = 1;
            continue;
        }
        static const struct {
            const char *flag;
            size_t off;
        } strs[] = {
            {"--tasks", offsetof(settings, tasks)},
            {"--gold-dir", offsetof(settings, gold_dir)},
            {"--sql-dir", offsetof(settings, sql_dir)},
            {"--out", offsetof(settings, out)},
            {"--sqlite-dir", offsetof(settings, sqlite_dir)},
            {"--documents", offsetof(settings, documents)},
            {"--model", offsetof(settings, model)},
            {"--wire", offsetof(settings, wire)},
            {"--mcp-config", offsetof(settings, mcp_config)},
            {"--mcp-server-url", offsetof(settings, mcp_url)},
        };
        static const struct {
            const char *flag;
            size_t off;
            long lo;
        } longs[] = {
            {"--max-rows", offsetof(settings, max_rows), 0},
            {"--timeout-ms", offsetof(settings, timeout_ms), 0},
            {"--limit", offsetof(settings, limit), 0},
            {"--seed", offsetof(settings, seed), 0},
            {"--max-steps", offsetof(settings, max_steps), 1},
            {"--batch", offsetof(settings, batch), 1},
            {"--max-turn-tokens", offsetof(settings, max_turn_tokens), 1},
            {"--max-prompt-tokens", offsetof(settings, max_prompt_tokens), 0},
            {"--max-completion-tokens", offsetof(settings, max_completion_tokens), 0},
        };
        for (size_t k = 0; k < ARRAY_LEN(strs) && !slot; k++)
            if (!strcmp(a, strs[k].flag))
                slot = (char **)((char *)&s + strs[k].off);
        for (size_t k = 0; k < ARRAY_LEN(longs) && !num; k++)
            if (!strcmp(a, longs[k].flag))
                num = (long *)((char *)&s + longs[k].off), lo = longs[k].lo;
        if (!slot && !num && strcmp(a, "--db") && strcmp(a, "--temperature")) {
            fprintf(stderr, "retrain eval: unknown option '%s' (see --help)\n", a);
            goto out;
        }
        if (!v || !v[0]) {
            fprintf(stderr, "retrain eval: %s needs a value\n", a);
            goto out;
        }
        i++;
        if (slot) {
            set_str(slot, v);
        } else if (!strcmp(a, "--db")) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1]) {
                fprintf(stderr, "retrain eval: --db needs NAME=URL, got '%s'\n", v);
                goto out;
            }
            char *name = xstrndup(v, (size_t)(eq - v));
            set_db(&s, name, eq + 1);
            free(name);
        } else if (!strcmp(a, "--temperature")) {
            char *end;
            double x = strtod(v, &end);
            if (end == v || *end || !(x >= 0 && x <= 100)) {
                fprintf(stderr, "retrain eval: --temperature needs a number from 0 to 100, got "
                                "'%s'\n", v);
                goto out;
            }
            s.temperature = x;
        } else {
            long x;
            if (parse_long(v, &x) != 0 || x < lo) {
                fprintf(stderr, "retrain eval: %s needs an integer >= %ld, got '%s'\n", a, lo, v);
                goto out;
            }
            *num = x;
        }
    }
    if (!s.sql_dir && !s.model) {
        fprintf(stderr, "retrain eval: no --model and no --sql-dir: give --model DIR to run a "
                        "model on the tasks, or --sql-dir DIR (one <instance_id>.sql per task) "
                        "to score predictions\n");
        goto out;
    }
    if (s.sql_dir && s.model) {
        fprintf(stderr, "retrain eval: --model and --sql-dir exclude each other: run the model, "
                        "or score a folder of predictions\n");
        goto out;
    }
    if (!s.tasks || !s.gold_dir || !s.out) {
        fprintf(stderr, "retrain eval: needs --tasks FILE, --gold-dir DIR and --out DIR (see "
                        "--help)\n");
        goto out;
    }
    if (!file_exists(s.tasks) || is_dir(s.tasks)) {
        fprintf(stderr, "retrain eval: --tasks %s: no such file\n", s.tasks);
        goto out;
    }
    if (need_dir("--gold-dir", s.gold_dir) || need_dir("--sql-dir", s.sql_dir) ||
        need_dir("--sqlite-dir", s.sqlite_dir) || need_dir("--documents", s.documents))
        goto out;
    ep_wire wire = EP_WIRE_SPIDER2;
    if (s.wire && ep_wire_parse(s.wire, &wire) != 0) {
        fprintf(stderr, "retrain eval: --wire must be spider2 or hermes, got '%s'\n", s.wire);
        goto out;
    }
    if (s.max_steps > 10000 || s.max_turn_tokens > 1000000 || s.batch > 4096 ||
        s.max_query_length > 10000000 || s.max_prompt_tokens > 10000000 ||
        s.max_completion_tokens > 10000000) {
        fprintf(stderr, "retrain eval: max_steps (%ld), max_turn_tokens (%ld), batch (%ld), "
                        "max_query_length (%ld), max_prompt_tokens (%ld) or "
                        "max_completion_tokens (%ld) is beyond any sensible run\n",
                s.max_steps, s.max_turn_tokens, s.batch, s.max_query_length,
                s.max_prompt_tokens, s.max_completion_tokens);
        goto out;
    }
    json_t *ucfg;
    char where[1200];
    if (user_servers(&s, &ucfg, where, sizeof where) != 0)
        goto out;
    char *docs = s.documents ? xstrdup(s.documents) : NULL;
    if (!docs && s.model && !s.no_knowledge)
        docs = default_documents(s.tasks);
    if (s.no_knowledge) {
        free(docs);
        docs = NULL;
    }
    tf_model *m = NULL;
    tok_t *tok = NULL;
    if (s.model && load_model(s.model, &m, &tok) != 0) {
        json_decref(ucfg);
        free(docs);
        goto out;
    }
    rc = 1;
    err_t e;
    env_task_opts to = {.sqlite_dir = s.sqlite_dir, .documents_dir = docs};
    if (s.db_names.len)
        to.db_names = &s.db_names, to.db_urls = &s.db_urls;
    /* a server named after a task's database serves it: no local copy
     * needed, unless the SQL is to run on direct connections */
    strlist_t served;
    strlist_init(&served);
    const char *sname;
    json_t *sv;
    json_object_foreach(json_object_get(ucfg, "mcpServers"), sname, sv)
        strlist_push(&served, sname);
    if (served.len && !s.direct)
        to.served = &served;
    env_tasks ts;
    env_gold g;
    env_mcp *mcp = NULL;
    char *self = self_exe_path();
    int have_ts = 0, have_g = 0;
    if (env_tasks_load(s.tasks, &to, &ts, &e) != 0)
        goto fail;
    have_ts = 1;
    if (env_gold_open(s.gold_dir, &g, &e) != 0)
        goto fail;
    have_g = 1;
    env_mcp_opts mo = {.command = self, .query_timeout_ms = s.timeout_ms, .config = ucfg,
                       .where = where};
    mcp = env_mcp_new(&ts, &mo, &e);
    if (!mcp)
        goto fail;
    env_executor x;
    if (s.direct)
        env_db_executor(&ts, &x);
    else
        env_mcp_executor(mcp, &x);
    env_eval_opts eo = {.sql_dir = s.sql_dir, .out_dir = s.out,
                        .mode = s.strict ? ENV_SCORE_STRICT : ENV_SCORE_OFFICIAL,
                        .max_rows = (size_t)s.max_rows, .timeout_ms = s.timeout_ms,
                        .progress = progress, .limit = (size_t)s.limit};
    json_t *report;
    if (s.sql_dir) {
        report = env_eval_sql_dir(&ts, &g, &x, &eo, &e);
    } else {
        ep_config c;
        ep_config_default(&c);
        c.chat = chat_detect(tok);
        c.wire = s.wire ? wire : ep_wire_default(c.chat);
        c.max_steps = (int)s.max_steps;
        c.max_query_length = (int)s.max_query_length;
        c.max_turn_tokens = (int)s.max_turn_tokens;
        c.max_prompt_tokens = (int)s.max_prompt_tokens;
        c.max_completion_tokens = (int)s.max_completion_tokens;
        ep_engine_opts eng = {.temperature = (float)s.temperature, .seed = (uint64_t)s.seed};
        ep_engine *en = ep_engine_new(m, tok, c.chat, &eng);
        ep_policy pol = ep_engine_policy(en);
        env_agent ag = {.ep = &c, .tok = tok, .policy = &pol, .mcp = mcp, .batch = (int)s.batch,
                        .model = s.model, .keep_episodes = s.episodes};
        report = env_eval_agent(&ts, &g, &x, &ag, &eo, &e);
        ep_engine_free(en);
    }
    x.close(x.ctx);
    if (!report)
        goto fail;
    print_summary(report, s.out);
    json_decref(report);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "retrain eval: %s\n", e.msg);
done:
    env_mcp_free(mcp);
    if (have_g)
        env_gold_close(&g);
    if (have_ts)
        env_tasks_free(&ts);
    free(self);
    strlist_free(&served);
    free(docs);
    json_decref(ucfg);
    tf_free(m);
    tok_free(tok);
out:
    settings_free(&s);
    return rc;
}

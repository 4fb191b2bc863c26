/* env: Spider 2.0 tasks, result tables, and the official execution-accuracy
 * score.
 *
 * The official scorer (Spider 2.0-Lite's evaluate.py) never compares the
 * values a database returned: it writes the result with pandas' to_csv,
 * reads it back with read_csv, and compares that with the gold CSV read the
 * same way. Types therefore come from pandas' CSV type inference, and the
 * order of "ignore_order" sorting from Python's str() of each value. This
 * module reproduces that round trip (env_csv_write, env_csv_parse) so that
 * our scores are the leaderboard's, and adds a strict row-aligned mode for
 * training rewards.
 *
 * Layers: env_table (a result: column names and typed cells) <- a database
 * cursor, an MCP execute_query structuredContent object, or a CSV; gold data
 * (spider2lite_eval.jsonl + exec_result/); task files; an executor interface
 * that runs predicted SQL; the scorer; the score-a-folder evaluation. */
#ifndef RETRAIN_ENV_H
#define RETRAIN_ENV_H

#include <jansson.h>
#include <stdint.h>

#include "../base/base.h"
#include "../db/db.h"
#include "../mcp/mcp_client.h"

/* From episode.h and the model (env.h stays free of the model's names). */
struct env_tools;
struct ep_config;
struct ep_policy;
struct tok;

/* ---- result tables ------------------------------------------------------ */

typedef enum env_kind {
    ENV_NULL,  /* SQL NULL, or NaN / an NA token after a CSV read */
    ENV_INT,   /* i */
    ENV_FLOAT, /* f */
    ENV_BOOL,  /* i: 0 or 1 */
    ENV_TEXT,  /* off, len: bytes in the table's text buffer */
} env_kind;

typedef struct env_cell {
    env_kind kind;
    int64_t i;
    double f;
    size_t off, len;
} env_cell;

/* A column's dtype as pandas.read_csv infers it (set by env_csv_parse). */
typedef enum env_dtype {
    ENV_DT_INT,    /* int64: every field an integer, none missing */
    ENV_DT_FLOAT,  /* float64: numbers with missing ones, or decimals; all missing */
    ENV_DT_BOOL,   /* bool: True/False (any of pandas' spellings), none missing */
    ENV_DT_OBJECT, /* anything else: text, True/False with missing values */
} env_dtype;

typedef struct env_table {
    strlist_t cols;     /* column names (ignored by the score) */
    size_t nrows, cap;  /* cap: rows allocated */
    env_cell *cells;    /* nrows x cols.len, row-major */
    env_dtype *dtypes;  /* cols.len entries after env_csv_parse; NULL otherwise */
    buf_t text;         /* bytes of every ENV_TEXT cell */
    int truncated;      /* the source had more rows than were kept */
} env_table;

void env_table_init(env_table *t);
void env_table_free(env_table *t);
/* Columns must all be added before the first row. */
void env_table_add_col(env_table *t, const char *name);
/* Appends a row of ENV_NULL cells and returns it (valid until the next add). */
env_cell *env_table_add_row(env_table *t);
void env_cell_set_text(env_table *t, env_cell *c, const char *s, size_t n);
static inline env_cell *env_table_cell(const env_table *t, size_t row, size_t col)
{
    return &t->cells[row * t->cols.len + col];
}
static inline const char *env_cell_text(const env_table *t, const env_cell *c)
{
    return t->text.data + c->off;
}

/* Fills t from a cursor, keeping at most max_rows rows (0: all); sets
 * t->truncated when rows were left. Values keep their driver types; dates,
 * decimals, blobs and the like become TEXT in Python's str() form. */
int env_table_from_cursor(db_cursor *cur, size_t max_rows, env_table *t, db_error *e);
/* Fills t from {"columns": [names], "rows": [[values]], "truncated": bool}
 * (execute_query's structuredContent): null, integers, reals, booleans and
 * strings keep their types; arrays and objects become their JSON text. */
int env_table_from_json(json_t *obj, env_table *t, err_t *e);

/* ---- CSV as pandas writes and reads it ---------------------------------- */

/* Appends t as DataFrame.to_csv(index=False) writes what
 * pandas.read_sql_query(chunksize=500) made of it: dtypes inferred per
 * chunk of 500 rows (an integer column with a NULL becomes float64, so 5 is
 * written "5.0"), floats in repr form, NULL as an empty field, RFC 4180
 * quoting as Python's csv module does it, '\n' line ends. */
void env_csv_write(const env_table *t, buf_t *out);
/* Parses CSV text as pandas.read_csv (C engine, default options) would:
 * header row, blank lines skipped, pandas' NA tokens ("", "NULL", "NA",
 * "None", "nan", ...) missing, then per column int64 / float64 / bool /
 * object, numbers parsed by pandas' own float converter. (An integer
 * column beyond int64 but within uint64, uint64 in pandas, is kept as
 * floats.) name (a file name) prefixes errors: "name:LINE: what". */
int env_csv_parse(const char *text, size_t len, const char *name, env_table *t, err_t *e);
int env_csv_read_file(const char *path, env_table *t, err_t *e);

/* ---- gold data: evaluation_suite/gold layout ---------------------------- */

typedef struct env_cols {
    long *idx; /* 0-based gold column indices */
    size_t n;
} env_cols;

typedef struct env_gold_meta {
    char *instance_id;
    int ignore_order;
    /* condition_cols: lists[0] for every variant when !per_variant (n 0 or
     * 1 list; an empty list keeps every column); lists[i] for variant i
     * when the file gave a list of lists. */
    int per_variant;
    env_cols *lists;
    size_t nlists;
    int line; /* in the eval jsonl */
} env_gold_meta;

typedef struct env_gold {
    char *dir, *eval_path, *result_dir;
    env_gold_meta *metas;
    size_t n;
    strlist_t files; /* exec_result/ listing, sorted */
} env_gold;

/* Loads DIR/spider2lite_eval.jsonl and lists DIR/exec_result/. */
int env_gold_open(const char *dir, env_gold *g, err_t *e);
void env_gold_close(env_gold *g);
const env_gold_meta *env_gold_find(const env_gold *g, const char *instance_id);
/* Appends the names of an id's gold variants in name order: "<id>.csv"
 * and "<id>_a.csv", "<id>_b.csv", ... (evaluate.py's pattern
 * <id>(_[a-z])?.csv); none when the id has no gold CSV. */
void env_gold_variants(const env_gold *g, const char *instance_id, strlist_t *names);
/* Reads every variant; -1 with e when there is none or one does not parse. */
int env_gold_load(const env_gold *g, const char *instance_id, env_table **tables, size_t *n,
                  err_t *e);
void env_tables_free(env_table *tables, size_t n);

/* ---- scoring ------------------------------------------------------------ */

typedef enum env_score_mode {
    ENV_SCORE_OFFICIAL, /* evaluate.py: every column matched on its own */
    ENV_SCORE_STRICT,   /* also rows aligned across the matched columns */
} env_score_mode;

/* Compares pred with one gold table under the official rule (or strictly):
 * keep gold columns `keep` (NULL/0: all), missing values are 0, with
 * ignore_order each column (strict: each row) sorted by (str(value), is
 * numeric), then every kept gold column must equal some pred column, numbers
 * within 0.01 (math.isclose(abs_tol=0.01)), other values exactly. Both
 * tables must come from env_csv_parse (dtypes set). 1 match, 0 not (why
 * says which gold column failed, or that a condition column is out of
 * range). */
int env_score_table(const env_table *pred, const env_table *gold, const long *keep, size_t nkeep,
                    int ignore_order, env_score_mode mode, char *why, size_t whylen);
/* Column col as evaluate.py sees it: str() of each value after the
 * missing-value rule and the frame's type promotion (all of t's columns),
 * in ignore_order's sort order when sorted, one per line without a final
 * newline. For tests and for explaining a score. */
void env_column_keys(const env_table *t, size_t col, int sorted, buf_t *out);
/* The task's score: 1 when pred matches any of the n gold variants under
 * meta's condition_cols and ignore_order, else 0 with why filled. */
int env_score(const env_table *pred, const env_table *golds, size_t n, const env_gold_meta *meta,
              env_score_mode mode, char *why, size_t whylen);

/* ---- JSON lines ---------------------------------------------------------- */

/* Calls fn on each line's object, in order, with where = "PATH:LINE";
 * blank lines are skipped. A line that is not a JSON object is an error
 * naming it; fn returning -1 stops the loop with its error. */
typedef int (*env_jsonl_fn)(json_t *obj, const char *where, int line, void *ctx, err_t *e);
int env_jsonl_each(const char *path, env_jsonl_fn fn, void *ctx, err_t *e);

/* ---- tasks -------------------------------------------------------------- */

typedef struct env_task {
    char *instance_id;
    char *db;        /* "db" / "db_id"; NULL for DBT tasks */
    char *question;  /* "question" / "instruction" */
    char *knowledge_file; /* "external_knowledge" (a document name) or NULL */
    char *knowledge; /* the document's text, when a documents folder was given */
    char *engine;    /* "sqlite", "postgresql", "duckdb", "bigquery", "snowflake", "dbt" */
    char *url;       /* the connection URL; NULL when skipped */
    const char *skip; /* why the task cannot run here (a reason key), or NULL */
    int line;        /* in the task file */
} env_task;

typedef struct env_tasks {
    char *path;
    env_task *items;
    size_t n;
    strlist_t skip_reasons; /* distinct reasons, in first-seen order */
    size_t *skip_counts;    /* one per reason */
} env_tasks;

typedef struct env_task_opts {
    const char *sqlite_dir;    /* folder of <db>.sqlite files, or NULL */
    const char *documents_dir; /* external-knowledge documents, or NULL: not loaded */
    /* Database name -> URL (postgresql://, duckdb:///, sqlite:///); an
     * entry wins over the SQLite folder. Every name must be some task's. */
    const strlist_t *db_names, *db_urls;
    /* Databases that an MCP server of the user's own is named after: their
     * tasks run through that server, with no database here (no URL). */
    const strlist_t *served;
} env_task_opts;

/* Reads a Spider 2.0-Lite, -Snow or -DBT jsonl file. Tasks whose engine or
 * database is not available here are kept with ->skip set and counted by
 * reason; malformed lines, duplicate ids, missing documents of runnable
 * tasks, bad URLs and map entries naming no task's database are errors
 * ("FILE:LINE: what"). */
int env_tasks_load(const char *path, const env_task_opts *o, env_tasks *ts, err_t *e);
void env_tasks_free(env_tasks *ts);
const env_task *env_tasks_find(const env_tasks *ts, const char *instance_id);

/* ---- executors: run predicted SQL on a task's database ------------------ */

typedef struct env_executor {
    void *ctx;
    /* Runs one statement on database `db` (a task's db name) and fills
     * *out (initialised by the caller) with at most max_rows rows (0: no
     * bound; out->truncated when more came), stopping after timeout_ms (0:
     * no limit). -1 with e (the database's own message) on failure. */
    int (*run)(void *ctx, const char *db, const char *sql, size_t max_rows, long timeout_ms,
               env_table *out, err_t *e);
    void (*close)(void *ctx);
} env_executor;

/* An executor over src/db: read-only connections to the URLs the tasks
 * resolved, opened on first use and kept. */
void env_db_executor(const env_tasks *ts, env_executor *x);

/* ---- MCP: the tasks' databases behind MCP servers ------------------------ */

/* The servers of one evaluation or training run. By default one
 * `retrain mcp-db` child per database (named after it, started on first
 * use, kept for the run, shut down by env_mcp_free), read-only:
 *   DB_URL=<the task's URL, a SQLite path made absolute>, MCP_DB_READ_ONLY=1,
 *   QUERY_TIMEOUT_MS, EXECUTE_QUERY_MAX_CHARS from the options.
 * With a user config ({"mcpServers": {...}} and/or {"mcp_server_url":
 * URL}) those servers are used instead: a database uses the server named
 * after it when there is one, else every server of the config (all tasks
 * share them). Predicted SQL runs through execute_query with
 * "_meta": {"retrain/rows": true}, which `retrain mcp-db` answers with
 * typed rows (see mcp.h); a server without them cannot score. */
typedef struct env_mcp env_mcp;

typedef struct env_mcp_opts {
    const char *command;    /* program started as `COMMAND mcp-db`; NULL: "retrain" (this
                               binary when it is not on PATH) */
    long query_timeout_ms;  /* the servers' QUERY_TIMEOUT_MS; 0: none */
    long max_chars;         /* their EXECUTE_QUERY_MAX_CHARS (what a model reads); 0: 4000 */
    const json_t *config;   /* user servers, or NULL (borrowed; copied) */
    const char *where;      /* names config in errors (a file, "eval.json: mcpServers") */
} env_mcp_opts;

/* Plans the servers for the runnable tasks of ts (nothing starts yet).
 * NULL with e on a malformed user config. */
env_mcp *env_mcp_new(const env_tasks *ts, const env_mcp_opts *o, err_t *e);
/* Shuts every started server down and frees everything handed out. */
void env_mcp_free(env_mcp *m);
/* The tools of database db's server(s) as an episode's tool set, starting
 * them on first use (tools/list once). A call is a tools/call with the
 * tool's time limit (query_timeout_ms plus a margin; none: 10 minutes);
 * its text and isError go to the model. -1 from a call only when the
 * server is unusable. *out stays valid until env_mcp_free. -1 with e
 * ("MCP server 'x': ...") when a server cannot start or list its tools. */
int env_mcp_tools(env_mcp *m, const char *db, const struct env_tools **out, err_t *e);
/* An executor over the same servers. Its close() leaves them running:
 * env_mcp_free ends them. A query's error text ("Error: ...", without the
 * prefix), a statement that returns no rows, a tool error and an unusable
 * server are all the task's error. */
void env_mcp_executor(env_mcp *m, env_executor *x);
/* How many servers have been started (restarts not counted). */
size_t env_mcp_started(const env_mcp *m);

/* ---- score a folder of predicted SQL ------------------------------------ */

typedef struct env_eval_opts {
    const char *sql_dir;  /* <instance_id>.sql files */
    const char *out_dir;  /* submission: <id>.sql, <id>.csv, report.json, report.md */
    env_score_mode mode;
    size_t max_rows;      /* 0: no bound */
    long timeout_ms;      /* per statement, 0: none */
    int progress;         /* draw a progress bar on stderr */
    size_t limit;         /* at most this many tasks, the first in id order; 0: all */
} env_eval_opts;

/* Scores every runnable task that has DIR/<id>.sql (the others are counted
 * as skipped by reason; at most o->limit), writes the submission folder and
 * report.json (a result whose SQL did not run has "sql_failed": true) /
 * report.md, and returns the report (caller json_decref's it). Errors in a
 * prediction are the task's score 0 with the message; -1 only when the run
 * cannot be scored (gold missing or unreadable, a .sql naming no task, a
 * folder that cannot be read or written). */
json_t *env_eval_sql_dir(const env_tasks *ts, const env_gold *g, env_executor *x,
                         const env_eval_opts *o, err_t *e);
/* ---- run a model (or any policy) on the tasks as an agent ----------------- */

typedef struct env_agent {
    const struct ep_config *ep;     /* the episode's settings (chat format, wire, max_steps ...) */
    const struct tok *tok;          /* the model's tokenizer */
    const struct ep_policy *policy; /* ep_engine_policy over the model, or a scripted one */
    env_mcp *mcp;            /* each task's database tools */
    int batch;               /* tasks whose episodes step together, >= 1 */
    const char *model;       /* named in the report (a model directory) */
    int keep_episodes;       /* 1: write episodes/<id>.txt (ep_format) in the out folder */
} env_agent;

/* Runs one episode per runnable task (id order, o->limit at most; o->sql_dir
 * unused), batch tasks at a time with their episodes stepping together,
 * each with its own database's tools; the answer's SQL is written as
 * <id>.sql, run through x (use env_mcp_executor over a->mcp), written as
 * <id>.csv and scored as env_eval_sql_dir does. A task without an answer
 * scores 0 with the episode's end as its error (a task whose prompt cannot
 * fit max_prompt_tokens runs no episode: end "prompt_too_long"). Each
 * result also has
 * turns, tool_calls, tool_errors, end (ep_end_name) and end_detail; the
 * report adds "agent": {mean_turns, tool_use_rate (share of episodes with
 * a tool call), tool_calls, tool_errors, answered, no_answer, sql_errors,
 * ends {reason: count}, model_tokens, generation_s, tool_s}. -1 cases as
 * env_eval_sql_dir's, plus a server that cannot start or a policy that
 * fails. */
json_t *env_eval_agent(const env_tasks *ts, const env_gold *g, env_executor *x,
                       const env_agent *a, const env_eval_opts *o, err_t *e);

/* The report as a Markdown page. */
void env_report_md(json_t *report, buf_t *out);

#endif

/* env/demo: the demo database and its Spider 2.0-Lite tasks, deterministic
 * from a seed (the first stage of `retrain demo`). Prefix demo_.
 *
 * The database ("demo", one SQLite file) is a small shop: departments,
 * employees (manager_id -> employees, department_id -> departments,
 * hire_date, salary, some NULL emails), customers (city, country,
 * signup_date, NULL emails and phones), products (category, price), orders
 * (customer_id, employee_id, order_date, status) and order_items
 * (order_id, product_id, quantity, unit_price), with declared foreign keys;
 * about 4,600 rows, so every query runs in milliseconds. Names come from
 * built-in word lists, values from src/base's rng: the same seed gives the
 * same file, byte for byte (with the same SQLite library).
 *
 * Tasks come from templates (lookups, filters, counts, GROUP BY
 * aggregates, 2-4 table joins, top-k, strftime date filters, NULL
 * handling, DISTINCT, HAVING, a self-join). Each template has several
 * phrasings and a query that lists its slot values from the database
 * (value combinations: a customer's name, a category and a year, ...).
 * Held-out rule: a template's LAST phrasing is used only by evaluation
 * tasks, the others only by training tasks; and a template's value
 * combinations (shuffled by the seed) are split, the first fifth (at least
 * one) for evaluation and the rest for training. So no evaluation question
 * shares a (template, phrasing) or a (template, values) pair with a
 * training question. A combination is used only when its gold result is
 * non-empty (and not a single 0 or NULL) and, for ordered and top-k
 * questions, when the ordering key has no ties (top-k: among the first
 * k + 1 rows), so every answer is unambiguous.
 *
 * Output of demo_write(OUTDIR):
 *   demo.sqlite             the database (named "demo" in the tasks)
 *   train.jsonl, eval.jsonl {"instance_id", "db": "demo", "question",
 *                           "external_knowledge": null} per line
 *   gold/spider2lite_eval.jsonl  {"instance_id", "condition_cols": [],
 *                           "ignore_order"} for both splits
 *   gold/exec_result/<id>.csv    the gold SQL's result, as env_csv_write
 *                           writes it (pandas' to_csv)
 *   gold/sql/train/<id>.sql, gold/sql/eval/<id>.sql  the gold SQL, one
 *                           folder per split (`retrain eval` refuses a .sql
 *                           naming no task of its task file)
 *   sft.jsonl               demonstrations for a supervised warm start (below)
 *
 * sft.jsonl: one line per demonstrated training task,
 *   {"instance_id": ID, "messages": [
 *     {"role": "system", "content": ep_system_text of ChatML's wire (Hermes)
 *                                   with the four database tools},
 *     {"role": "user", "content": "Database: demo\n\nQuestion: ..."},
 *     {"role": "assistant", "content": "<tool_call>\n{\"name\": \"all_table_names\",
 *                                       \"arguments\": {}}\n</tool_call>"},
 *     {"role": "tool", "name": "all_table_names", "content": RESULT TEXT},
 *     {"role": "assistant", "content": "<tool_call>\n{\"name\": \"schema_definitions\",
 *                                       \"arguments\": {\"table_names\": [...]}}\n</tool_call>"},
 *     {"role": "tool", "name": "schema_definitions", "content": ...},
 *     {"role": "assistant", "content": "<tool_call>\n{\"name\": \"execute_query\",
 *                                       \"arguments\": {\"query\": GOLD SQL}}\n</tool_call>"},
 *     {"role": "tool", "name": "execute_query", "content": ...},
 *     {"role": "assistant", "content": "<answer>GOLD SQL</answer>"}]}
 * A tool message's content is the exact text the MCP server's tool returns
 * (produced by the server core's tools/call on the generated database);
 * rendered by the ChatML template it is the <tool_response> block an episode
 * inserts. The tool descriptions in the system text name the database as
 * "demo.sqlite", what `DB_URL=sqlite:///demo.sqlite retrain mcp-db` says when
 * run in OUTDIR (a training config's mcpServers can run it so, with "cwd":
 * retrain demo does), not by its path, so the file does not depend on where
 * OUTDIR is (they name the SQLite library's version, as the server's do). */
#ifndef RETRAIN_ENV_DEMO_H
#define RETRAIN_ENV_DEMO_H

#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

typedef struct demo_opts {
    uint64_t seed;
    int n_train, n_eval; /* questions per split (default 300 and 60) */
    int n_sft;           /* demonstrated training tasks (default 50; at most n_train) */
} demo_opts;

void demo_opts_default(demo_opts *o);

/* Writes the demo database to path (replacing a file there). Row counts
 * per table go to counts (6 entries, in the order of demo_table_names)
 * when it is not NULL. */
int demo_db_create(const char *path, uint64_t seed, long counts[6], err_t *e);
/* "departments", "employees", "customers", "products", "orders",
 * "order_items". */
extern const char *const demo_table_names[6];

enum { DEMO_TRAIN, DEMO_EVAL };

typedef struct demo_task {
    char id[48];          /* local_demo_train_0001, local_demo_eval_0001, ...: Spider
                             2.0-Lite's "local" prefix marks a SQLite task */
    int split;            /* DEMO_TRAIN or DEMO_EVAL */
    int tmpl, phrasing;   /* the template and which of its phrasings */
    char *values;         /* the slot values, joined by '|' */
    char *question, *sql; /* the question and its gold SQL */
    int ignore_order;
    const char *tables; /* tables the SQL reads, comma-separated */
    char *csv;          /* the gold result as env_csv_write writes it */
} demo_task;

typedef struct demo_taskset {
    demo_task *items; /* training tasks first, then evaluation tasks */
    size_t n, n_train, n_eval;
} demo_taskset;

/* Makes o->n_train + o->n_eval tasks on the database at db_path (made by
 * demo_db_create with o->seed) and runs their gold SQL. -1 when the
 * database cannot be read or holds fewer distinct questions than asked
 * ("only N distinct training questions ..."). */
int demo_tasks_make(const char *db_path, const demo_opts *o, demo_taskset *ts, err_t *e);
void demo_taskset_free(demo_taskset *ts);

/* The templates: how many, their names ("customer_email", ...) and their
 * number of phrasings (the last is the held-out one). */
int demo_template_count(void);
const char *demo_template_name(int tmpl);
int demo_template_phrasings(int tmpl);

typedef struct demo_summary {
    long rows[6]; /* per table, as demo_table_names */
    long total_rows;
    size_t n_train, n_eval, n_sft;
    double seconds;
} demo_summary;

/* Creates outdir (and its parents) and writes everything listed above.
 * sum (may be NULL) gets the counts. */
int demo_write(const char *outdir, const demo_opts *o, demo_summary *sum, err_t *e);

/* Writes sft.jsonl's text for the first o->n_sft training tasks of ts
 * (the database at db_path) into out. */
int demo_sft_build(const char *db_path, const demo_taskset *ts, int n_sft, buf_t *out, err_t *e);

#endif

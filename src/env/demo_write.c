/* Writing the demo data set: the database, the task files, the gold
 * folder, and the demonstrations of sft.jsonl (see demo.h). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../mcp/mcp.h"
#include "demo.h"
#include "env.h"
#include "episode.h"

/* A plain write: hundreds of small files, none of which a reader could
 * see half-written before the command reports success. */
static int put_file(const char *path, const char *data, size_t n, err_t *e)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return err_set(e, "%s: %s", path, strerror(errno));
    int bad = fwrite(data, 1, n, f) != n;
    if (fclose(f) != 0 || bad)
        return err_set(e, "%s: %s", path, strerror(errno ? errno : EIO));
    return 0;
}

/* Removes DIR/local_demo_*.EXT left by an earlier run (its counts may differ:
 * a stale .sql would name no task). */
static int clear_old(const char *dir, const char *ext, err_t *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set(e, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    buf_t p;
    buf_init(&p);
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (!str_starts(de->d_name, "local_demo_") || !str_ends(de->d_name, ext))
            continue;
        buf_reset(&p);
        buf_printf(&p, "%s/%s", dir, de->d_name);
        if (remove(p.data) != 0) {
            rc = err_set(e, "%s: %s", p.data, strerror(errno));
            break;
        }
    }
    closedir(d);
    buf_free(&p);
    return rc;
}

/* json.dumps' separators (", ", ": "), keys in insertion order. */
static void dump_py(json_t *v, buf_t *out)
{
    char *s = json_dumps(v, JSON_PRESERVE_ORDER);
    buf_puts(out, s);
    free(s);
}

/* ---- demonstrations */

typedef struct tool_srv {
    db_conn *conn;
    mcp_server *server;
    mcp_session sess;
} tool_srv;

/* tools/call through the server core: the text a client would get. */
static int srv_call(tool_srv *s, const char *name, json_t *args, buf_t *text, err_t *e)
{
    json_t *msg = json_pack("{s:s, s:i, s:s, s:{s:s, s:O}}", "jsonrpc", "2.0", "id", 1, "method",
                            "tools/call", "params", "name", name, "arguments", args);
    json_t *r = mcp_server_handle(s->server, &s->sess, msg, NULL);
    json_decref(msg);
    json_t *res = json_object_get(r, "result");
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
    int rc = 0;
    if (!t || json_is_true(json_object_get(res, "isError")))
        rc = err_set(e, "demo database: tool %s failed: %s", name, t ? t : "no result");
    else
        buf_puts(text, t);
    json_decref(r);
    return rc;
}

/* s with every occurrence of from replaced by to (a new string). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    buf_t b;
    buf_init(&b);
    size_t n = strlen(from);
    for (const char *q; n && (q = strstr(s, from)); s = q + n) {
        buf_append(&b, s, (size_t)(q - s));
        buf_puts(&b, to);
    }
    buf_puts(&b, s);
    return buf_take(&b);
}

static void message(json_t *msgs, const char *role, const char *name, const char *content)
{
    json_t *m = json_pack("{s:s}", "role", role);
    if (name)
        json_object_set_new(m, "name", json_string(name));
    json_object_set_new(m, "content", json_string(content));
    json_array_append_new(msgs, m);
}

/* One assistant turn calling a tool, and the tool's reply. */
static int call_turn(tool_srv *s, json_t *msgs, const char *name, json_t *args, err_t *e)
{
    json_t *call = json_pack("{s:s, s:O}", "name", name, "arguments", args);
    buf_t b, text;
    buf_init(&b), buf_init(&text);
    buf_puts(&b, "<tool_call>\n");
    dump_py(call, &b);
    buf_puts(&b, "\n</tool_call>");
    json_decref(call);
    int rc = srv_call(s, name, args, &text, e);
    if (rc == 0) {
        message(msgs, "assistant", NULL, b.data);
        message(msgs, "tool", name, text.data);
    }
    buf_free(&b), buf_free(&text);
    return rc;
}

int demo_sft_build(const char *db_path, const demo_taskset *ts, int n_sft, buf_t *out, err_t *e)
{
    tool_srv s;
    memset(&s, 0, sizeof s);
    buf_t url;
    buf_init(&url);
    buf_printf(&url, "sqlite:///%s", db_path);
    db_options dopt = {.read_only = 1};
    s.conn = db_new(url.data, &dopt, e);
    buf_free(&url);
    if (!s.conn)
        return -1;
    mcp_db_config cfg = {.max_chars = 4000};
    s.server = mcp_server_new("retrain-demo", "0");
    mcp_db_tools_register(s.server, s.conn, &cfg);
    mcp_session_init(&s.sess);

    int rc = -1;
    json_t *list_msg =
        json_pack("{s:s, s:i, s:s}", "jsonrpc", "2.0", "id", 1, "method", "tools/list");
    json_t *list = mcp_server_handle(s.server, &s.sess, list_msg, NULL);
    json_decref(list_msg);
    json_t *jt = json_object_get(json_object_get(list, "result"), "tools");
    size_t nt = json_array_size(jt);
    env_tool *tools = xcalloc(nt + 1, sizeof *tools);
    char **descs = xcalloc(nt + 1, sizeof *descs);
    buf_t sys, user;
    buf_init(&sys), buf_init(&user);
    for (size_t i = 0; i < nt; i++) {
        json_t *t = json_array_get(jt, i);
        tools[i].name = json_string_value(json_object_get(t, "name"));
        /* The descriptions name the database file: name it as a server run
         * in OUTDIR with DB_URL=sqlite:///demo.sqlite does, not by this
         * machine's path, so that the same seed writes the same bytes
         * wherever OUTDIR is. */
        descs[i] = replace_all(json_string_value(json_object_get(t, "description")), db_path,
                               "demo.sqlite");
        tools[i].description = descs[i];
        tools[i].input_schema = json_object_get(t, "inputSchema");
    }
    if (nt == 0) {
        err_set(e, "demo database: the MCP server lists no tools");
        goto out;
    }
    env_tools et = {.n = (int)nt, .tools = tools};
    ep_config c;
    ep_config_default(&c);
    /* ChatML's wire (Hermes), what the demo's model is prompted with: a
     * "tool" message renders as the <tool_response> block the episode
     * inserts */
    ep_system_text(&c, &et, &sys);

    for (size_t i = 0; i < ts->n_train && (int)i < n_sft; i++) {
        const demo_task *k = &ts->items[i];
        json_t *msgs = json_array();
        message(msgs, "system", NULL, sys.data);
        buf_reset(&user);
        /* the user text of ep_prompt_build, without external knowledge */
        buf_printf(&user, "Database: demo\n\nQuestion: %s", k->question);
        message(msgs, "user", NULL, user.data);
        json_t *a1 = json_object(), *a2 = json_pack("{s:[]}", "table_names"),
               *a3 = json_pack("{s:s}", "query", k->sql);
        json_t *names = json_object_get(a2, "table_names");
        for (const char *p = k->tables; *p;) {
            const char *q = strchr(p, ',');
            size_t n = q ? (size_t)(q - p) : strlen(p);
            json_array_append_new(names, json_stringn(p, n));
            p += n + (q ? 1 : 0);
        }
        int bad = call_turn(&s, msgs, "all_table_names", a1, e) ||
                  call_turn(&s, msgs, "schema_definitions", a2, e) ||
                  call_turn(&s, msgs, "execute_query", a3, e);
        json_decref(a1), json_decref(a2), json_decref(a3);
        if (bad) {
            json_decref(msgs);
            goto out;
        }
        buf_reset(&user);
        buf_printf(&user, "<answer>%s</answer>", k->sql);
        message(msgs, "assistant", NULL, user.data);
        json_t *line = json_pack("{s:s, s:o}", "instance_id", k->id, "messages", msgs);
        dump_py(line, out);
        buf_putc(out, '\n');
        json_decref(line);
    }
    rc = 0;
out:
    for (size_t i = 0; i < nt; i++)
        free(descs[i]);
    free(descs);
    free(tools);
    json_decref(list);
    buf_free(&sys), buf_free(&user);
    mcp_server_free(s.server);
    db_free(s.conn);
    return rc;
}

/* ---- the data set */

static int write_outputs(const char *outdir, const char *db_path, const demo_opts *o,
                         const demo_taskset *ts, demo_summary *sum, err_t *e)
{
    buf_t path, lines[2], meta, sft;
    buf_init(&path), buf_init(&lines[0]), buf_init(&lines[1]), buf_init(&meta), buf_init(&sft);
    static const char *const subdirs[] = {"gold/exec_result", "gold/sql/train", "gold/sql/eval"};
    static const char *const exts[] = {".csv", ".sql", ".sql"};
    int rc = -1;
    for (size_t i = 0; i < ARRAY_LEN(subdirs); i++) {
        buf_reset(&path);
        buf_printf(&path, "%s/%s", outdir, subdirs[i]);
        if (dir_make(path.data, e) != 0 || clear_old(path.data, exts[i], e) != 0)
            goto out;
    }
    for (size_t i = 0; i < ts->n; i++) {
        const demo_task *k = &ts->items[i];
        json_t *task = json_pack("{s:s, s:s, s:s, s:n}", "instance_id", k->id, "db", "demo",
                                 "question", k->question, "external_knowledge");
        dump_py(task, &lines[k->split]);
        buf_putc(&lines[k->split], '\n');
        json_decref(task);
        json_t *m = json_pack("{s:s, s:[], s:b}", "instance_id", k->id, "condition_cols",
                              "ignore_order", k->ignore_order);
        dump_py(m, &meta);
        buf_putc(&meta, '\n');
        json_decref(m);
        buf_reset(&path);
        buf_printf(&path, "%s/gold/exec_result/%s.csv", outdir, k->id);
        if (put_file(path.data, k->csv, strlen(k->csv), e) != 0)
            goto out;
        buf_reset(&path);
        buf_printf(&path, "%s/gold/sql/%s/%s.sql", outdir, k->split == DEMO_EVAL ? "eval" : "train",
                   k->id);
        if (put_file(path.data, k->sql, strlen(k->sql), e) != 0)
            goto out;
    }
    if (demo_sft_build(db_path, ts, o->n_sft, &sft, e) != 0)
        goto out;
    static const char *const names[] = {"train.jsonl", "eval.jsonl"};
    for (int s = 0; s < 2; s++) {
        buf_reset(&path);
        buf_printf(&path, "%s/%s", outdir, names[s]);
        if (put_file(path.data, lines[s].data ? lines[s].data : "", lines[s].len, e) != 0)
            goto out;
    }
    buf_reset(&path);
    buf_printf(&path, "%s/gold/spider2lite_eval.jsonl", outdir);
    if (put_file(path.data, meta.data ? meta.data : "", meta.len, e) != 0)
        goto out;
    buf_reset(&path);
    buf_printf(&path, "%s/sft.jsonl", outdir);
    if (put_file(path.data, sft.data ? sft.data : "", sft.len, e) != 0)
        goto out;
    if (sum) {
        sum->n_train = ts->n_train;
        sum->n_eval = ts->n_eval;
        sum->n_sft = (size_t)o->n_sft < ts->n_train ? (size_t)o->n_sft : ts->n_train;
    }
    rc = 0;
out:
    buf_free(&path), buf_free(&lines[0]), buf_free(&lines[1]), buf_free(&meta), buf_free(&sft);
    return rc;
}

int demo_write(const char *outdir, const demo_opts *o, demo_summary *sum, err_t *e)
{
    uint64_t t0 = time_now_ns();
    demo_summary local;
    if (!sum)
        sum = &local;
    memset(sum, 0, sizeof *sum);
    if (o->n_train < 0 || o->n_eval < 0 || o->n_sft < 0)
        return err_set(e, "task counts must be >= 0");
    if (dir_make(outdir, e) != 0)
        return -1;
    buf_t db_path;
    buf_init(&db_path);
    buf_printf(&db_path, "%s/demo.sqlite", outdir);
    demo_taskset ts = {0};
    int rc = -1;
    if (demo_db_create(db_path.data, o->seed, sum->rows, e) != 0 ||
        demo_tasks_make(db_path.data, o, &ts, e) != 0 ||
        write_outputs(outdir, db_path.data, o, &ts, sum, e) != 0)
        goto out;
    for (int i = 0; i < 6; i++)
        sum->total_rows += sum->rows[i];
    sum->seconds = (double)(time_now_ns() - t0) / 1e9;
    rc = 0;
out:
    demo_taskset_free(&ts);
    buf_free(&db_path);
    return rc;
}

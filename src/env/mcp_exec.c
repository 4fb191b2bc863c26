/* The tasks' databases behind MCP servers: one `retrain mcp-db` child per
 * database (or the user's own servers), the episode's tool set over them,
 * and an executor that runs predicted SQL through execute_query and reads
 * the typed rows back into an env_table. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "episode.h"

/* What a tool call may take beyond the query's own limit (the server
 * answers the time limit itself; this only catches a server that hangs),
 * and the wait when there is no limit at all. */
#define CALL_MARGIN_MS 5000
#define CALL_NO_LIMIT_MS (10 * 60 * 1000)

/* One database as the tasks see it: its servers' tools, gathered once. */
typedef struct mdb {
    env_mcp *m;
    char *db;
    int built;
    env_tool *tools;      /* [ntools], strings and schemas borrowed from the client */
    mcp_client **owner;   /* [ntools] the server of each tool */
    int ntools;
    env_tools set;
    mcp_client *exec;     /* the server with execute_query, or NULL */
} mdb;

struct env_mcp {
    mcp_servers *servers;
    int user; /* servers from the user's config */
    mdb *dbs;
    size_t ndbs;
    long query_timeout_ms;
    strlist_t started; /* names of the servers started so far */
};

/* sqlite:///relative/path -> sqlite:////absolute/path (the child may not
 * share our idea of the working directory forever; an absolute URL says
 * which file it serves). Other URLs as they are. */
static char *absolute_url(const char *url)
{
    const char *p = url + strlen("sqlite:///");
    if (!str_starts(url, "sqlite:///") || *p == '/' || str_starts(p, "file:"))
        return xstrdup(url);
    char *abs = realpath(p, NULL);
    if (!abs)
        return xstrdup(url);
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "sqlite:///%s", abs);
    free(abs);
    return buf_take(&b);
}

static mdb *find_db(env_mcp *m, const char *db)
{
    for (size_t i = 0; i < m->ndbs; i++)
        if (!strcmp(m->dbs[i].db, db))
            return &m->dbs[i];
    return NULL;
}

env_mcp *env_mcp_new(const env_tasks *ts, const env_mcp_opts *o, err_t *e)
{
    env_mcp *m = xcalloc(1, sizeof *m);
    strlist_init(&m->started);
    m->query_timeout_ms = o->query_timeout_ms;
    json_t *entries = json_object();
    for (size_t i = 0; i < ts->n; i++) {
        const env_task *t = &ts->items[i];
        if (t->skip || (!t->url && !o->config) || !t->db || find_db(m, t->db))
            continue;
        m->dbs = xrealloc(m->dbs, (m->ndbs + 1) * sizeof *m->dbs);
        mdb *d = &m->dbs[m->ndbs++];
        memset(d, 0, sizeof *d);
        d->m = m;
        d->db = xstrdup(t->db);
        if (o->config)
            continue;
        char *url = absolute_url(t->url);
        json_t *env = json_pack("{s:s, s:s}", "DB_URL", url, "MCP_DB_READ_ONLY", "1");
        free(url);
        char num[32];
        if (o->query_timeout_ms > 0) {
            snprintf(num, sizeof num, "%ld", o->query_timeout_ms);
            json_object_set_new(env, "QUERY_TIMEOUT_MS", json_string(num));
        }
        if (o->max_chars > 0) {
            snprintf(num, sizeof num, "%ld", o->max_chars);
            json_object_set_new(env, "EXECUTE_QUERY_MAX_CHARS", json_string(num));
        }
        json_object_set_new(entries, t->db,
                            json_pack("{s:s, s:[s], s:o}", "command",
                                      o->command ? o->command : "retrain", "args", "mcp-db",
                                      "env", env));
    }
    if (o->config) {
        m->user = 1;
        m->servers = mcp_servers_from_json(o->config, o->where, e);
    } else if (m->ndbs) {
        json_t *cfg = json_pack("{s:o}", "mcpServers", entries);
        entries = NULL;
        m->servers = mcp_servers_from_json(cfg, "the tasks' databases", e);
        json_decref(cfg);
    }
    json_decref(entries);
    if (!m->servers && (o->config || m->ndbs)) {
        env_mcp_free(m);
        return NULL;
    }
    return m;
}

void env_mcp_free(env_mcp *m)
{
    if (!m)
        return;
    mcp_servers_free(m->servers);
    for (size_t i = 0; i < m->ndbs; i++) {
        free(m->dbs[i].db);
        free(m->dbs[i].tools);
        free(m->dbs[i].owner);
    }
    free(m->dbs);
    strlist_free(&m->started);
    free(m);
}

size_t env_mcp_started(const env_mcp *m)
{
    return m->started.len;
}

static int call_timeout(const env_mcp *m)
{
    if (m->query_timeout_ms <= 0)
        return CALL_NO_LIMIT_MS;
    long t = m->query_timeout_ms + CALL_MARGIN_MS;
    return t > INT_MAX ? INT_MAX : (int)t;
}

/* The tool call an episode makes: the server's text and isError; a text
 * that begins "Error: " (how a failed query answers) is an error too. */
static int mdb_call(void *user, const char *name, json_t *args, buf_t *text, int *is_error,
                    err_t *e)
{
    mdb *d = user;
    mcp_client *c = NULL;
    for (int i = 0; i < d->ntools && !c; i++)
        if (!strcmp(d->tools[i].name, name))
            c = d->owner[i];
    if (!c)
        return err_set(e, "database '%s' has no tool called '%s'", d->db, name);
    mcp_result r;
    if (mcp_client_call_json(c, name, args, NULL, call_timeout(d->m), &r, e) != 0)
        return -1;
    buf_puts(text, r.text);
    *is_error = r.is_error || str_starts(r.text, "Error: ");
    mcp_result_free(&r);
    return 0;
}

static mcp_client *start(env_mcp *m, const char *name, err_t *e)
{
    mcp_client *c = mcp_client_get(m->servers, name, e);
    if (c && strlist_index(&m->started, mcp_client_name(c)) < 0)
        strlist_push(&m->started, mcp_client_name(c));
    return c;
}

/* Starts d's servers and gathers their tools (once). */
static int mdb_build(env_mcp *m, mdb *d, err_t *e)
{
    if (d->built)
        return 0;
    /* A database's own server: named after it (always so for ours). */
    int own = 0;
    for (size_t i = 0; i < mcp_servers_count(m->servers) && !own; i++)
        own = !strcmp(mcp_servers_name(m->servers, i), d->db);
    size_t nserv = own ? 1 : mcp_servers_count(m->servers);
    for (size_t k = 0; k < nserv; k++) {
        const char *name = own ? d->db : mcp_servers_name(m->servers, k);
        mcp_client *c = start(m, name, e);
        const mcp_tool *tools;
        size_t n;
        if (!c || mcp_client_tools(c, &tools, &n, e) != 0) {
            free(d->tools);
            free(d->owner);
            d->tools = NULL, d->owner = NULL, d->ntools = 0, d->exec = NULL;
            return -1;
        }
        d->tools = xrealloc(d->tools, (size_t)(d->ntools + (int)n + 1) * sizeof *d->tools);
        d->owner = xrealloc(d->owner, (size_t)(d->ntools + (int)n + 1) * sizeof *d->owner);
        for (size_t i = 0; i < n; i++) {
            int dup = 0; /* a name two servers share: the first one's */
            for (int j = 0; j < d->ntools && !dup; j++)
                dup = !strcmp(d->tools[j].name, tools[i].name);
            if (dup)
                continue;
            d->tools[d->ntools] = (env_tool){tools[i].name, tools[i].description,
                                             tools[i].input_schema};
            d->owner[d->ntools++] = c;
            if (!d->exec && !strcmp(tools[i].name, "execute_query"))
                d->exec = c;
        }
    }
    d->set = (env_tools){.n = d->ntools, .tools = d->tools, .call = mdb_call, .user = d};
    d->built = 1;
    return 0;
}

static mdb *lookup(env_mcp *m, const char *db, err_t *e)
{
    mdb *d = db ? find_db(m, db) : NULL;
    if (!d) {
        err_set(e, "database '%s' is not available here", db ? db : "(none)");
        return NULL;
    }
    return mdb_build(m, d, e) == 0 ? d : NULL;
}

int env_mcp_tools(env_mcp *m, const char *db, const env_tools **out, err_t *e)
{
    mdb *d = lookup(m, db, e);
    *out = d ? &d->set : NULL;
    return d ? 0 : -1;
}

/* ---- the executor */

/* The database's own message in an execute_query error text, which reads
 * as str() of SQLAlchemy's exception (mcp-alchemy's):
 *   Error: (sqlite3.OperationalError) no such table: x
 *   [SQL: SELECT * FROM x]
 *   (Background on this error at: https://sqlalche.me/e/20/e3q8)
 * -> "no such table: x", what the direct executor reports. */
static void driver_message(const char *text, err_t *e)
{
    const char *p = str_starts(text, "Error: ") ? text + 7 : text;
    if (*p == '(') {
        const char *close = strchr(p, ')');
        if (close && close[1] == ' ' && !memchr(p, ' ', (size_t)(close - p)) &&
            !memchr(p, '\n', (size_t)(close - p)))
            p = close + 2;
    }
    const char *end = p + strlen(p);
    const char *cuts[] = {"\n[SQL: ", "\n(Background on this error at: "};
    for (size_t i = 0; i < ARRAY_LEN(cuts); i++) {
        const char *c = strstr(p, cuts[i]);
        if (c && c < end)
            end = c;
    }
    while (end > p && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    err_set(e, "%.*s", (int)(end - p), p);
}

static int mexec_run(void *ctx, const char *db, const char *sql, size_t max_rows,
                     long timeout_ms, env_table *out, err_t *e)
{
    env_mcp *m = ctx;
    mdb *d = lookup(m, db, e);
    if (!d)
        return -1;
    if (!d->exec)
        return err_set(e, "the MCP server(s) of database '%s' have no execute_query tool", db);
    long tmo = timeout_ms > 0 ? timeout_ms + CALL_MARGIN_MS : CALL_NO_LIMIT_MS;
    json_t *args = json_pack("{s:s}", "query", sql);
    json_t *meta = json_pack("{s:b}", "retrain/rows", 1);
    mcp_result r;
    int rc = mcp_client_call_json(d->exec, "execute_query", args, meta,
                                  tmo > INT_MAX ? INT_MAX : (int)tmo, &r, e);
    json_decref(args);
    json_decref(meta);
    if (rc != 0)
        return -1;
    json_t *sc = json_object_get(r.raw, "structuredContent");
    const char *text = r.text;
    if (r.is_error || str_starts(text, "Error: ")) {
        driver_message(text, e);
        rc = -1;
    } else if (!json_is_array(json_object_get(sc, "rows"))) {
        rc = err_set(e, "MCP server '%s' returned no typed rows for execute_query (scoring needs "
                        "`retrain mcp-db`, which gives them)",
                     mcp_client_name(d->exec));
    } else if (json_array_size(json_object_get(sc, "columns")) == 0) {
        rc = err_set(e, "the statement returns no rows");
    } else if (env_table_from_json(sc, out, e) != 0) {
        rc = -1;
    } else if (max_rows && out->nrows > max_rows) {
        out->nrows = max_rows;
        out->truncated = 1;
    }
    mcp_result_free(&r);
    return rc;
}

static void mexec_close(void *ctx)
{
    (void)ctx; /* the servers belong to the env_mcp */
}

void env_mcp_executor(env_mcp *m, env_executor *x)
{
    x->ctx = m;
    x->run = mexec_run;
    x->close = mexec_close;
}

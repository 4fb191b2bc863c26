/* The MCP client core: the config, the manager of named servers, the
 * protocol (initialize and version negotiation, tools/list pages,
 * tools/call with a time limit and cancellation, ping), restarts, the tool
 * registry with its argument check, and the tool list for prompts. The
 * transports (client_stdio.c, client_http.c) move messages only. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

#define DEFAULT_REQUEST_TIMEOUT_MS 30000
#define MAX_TOOL_PAGES 1000

struct mcp_servers {
    mcp_client **clients;
    size_t n;
    int request_timeout_ms;
};

/* ---- config ---- */

static mcp_client *client_new(mcp_servers *m, const char *name)
{
    mcp_client *c = xcalloc(1, sizeof *c);
    c->mgr = m;
    c->name = xstrdup(name);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->io.err_lock, NULL);
    c->io.in_fd = c->io.out_fd = c->io.err_fd = -1;
    c->io.exit_status = -1;
    strlist_init(&c->io.args);
    strlist_init(&c->io.env);
    buf_init(&c->io.rbuf);
    strlist_init(&c->http.headers);
    return c;
}

static void client_free(mcp_client *c)
{
    if (!c)
        return;
    if (c->running || c->io.pid) {
        if (c->is_http)
            http_stop(c);
        else
            stdio_stop(c);
    }
    stdio_deinit(&c->io);
    http_deinit(&c->http);
    json_decref(c->tools_json);
    free(c->tools);
    free(c->name);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void add_client(mcp_servers *m, mcp_client *c)
{
    m->clients = xrealloc(m->clients, (m->n + 1) * sizeof *m->clients);
    m->clients[m->n++] = c;
}

static int check_url(const char *url, const char *where, const char *key, err_t *e)
{
    if (!str_starts(url, "http://") && !str_starts(url, "https://"))
        return err_set(e, "%s: %s must be an http:// or https:// URL, got '%s'", where, key, url);
    return 0;
}

/* Strings of an object into "K<sep>V" entries. */
static int string_map(json_t *obj, const char *where, const char *key, const char *sep,
                      strlist_t *out, err_t *e)
{
    if (!json_is_object(obj))
        return err_set(e, "%s: %s must be an object of strings", where, key);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (!json_is_string(v))
            return err_set(e, "%s: %s.%s must be a string", where, key, k);
        if (!*k || strchr(k, '=') || strchr(k, ':'))
            return err_set(e, "%s: %s has an invalid name '%s'", where, key, k);
        buf_t b;
        buf_init(&b);
        buf_printf(&b, "%s%s%s", k, sep, json_string_value(v));
        strlist_push(out, b.data);
        buf_free(&b);
    }
    return 0;
}

static int parse_entry(mcp_servers *m, const char *name, json_t *ent, const char *where, err_t *e)
{
    char key[300];
    snprintf(key, sizeof key, "mcpServers.%s", name);
    if (!json_is_object(ent))
        return err_set(e, "%s: %s must be an object", where, key);
    json_t *cmd = json_object_get(ent, "command"), *url = json_object_get(ent, "url");
    const char *type = json_string_value(json_object_get(ent, "type"));
    if (type && strcmp(type, "stdio") && strcmp(type, "http") && strcmp(type, "streamable-http"))
        return err_set(e, "%s: %s.type '%s' is not supported (stdio, http or streamable-http)",
                       where, key, type);
    if (cmd && url)
        return err_set(e, "%s: %s has both command and url; give one", where, key);
    if (!cmd && !url)
        return err_set(e, "%s: %s needs a command (a program to start) or a url", where, key);
    char sub[400];
    mcp_client *c = client_new(m, name);
    if (url) {
        snprintf(sub, sizeof sub, "%s.url", key);
        if (!json_is_string(url)) {
            client_free(c);
            return err_set(e, "%s: %s must be a string", where, sub);
        }
        if (check_url(json_string_value(url), where, sub, e)) {
            client_free(c);
            return -1;
        }
        c->is_http = 1;
        c->http.url = xstrdup(json_string_value(url));
        json_t *h = json_object_get(ent, "headers");
        snprintf(sub, sizeof sub, "%s.headers", key);
        if (h && string_map(h, where, sub, ": ", &c->http.headers, e)) {
            client_free(c);
            return -1;
        }
    } else {
        snprintf(sub, sizeof sub, "%s.command", key);
        if (!json_is_string(cmd) || !*json_string_value(cmd)) {
            client_free(c);
            return err_set(e, "%s: %s must be a non-empty string", where, sub);
        }
        c->io.command = xstrdup(json_string_value(cmd));
        json_t *args = json_object_get(ent, "args");
        if (args && !json_is_array(args)) {
            client_free(c);
            return err_set(e, "%s: %s.args must be an array of strings", where, key);
        }
        for (size_t i = 0; i < json_array_size(args); i++) {
            json_t *a = json_array_get(args, i);
            if (!json_is_string(a)) {
                client_free(c);
                return err_set(e, "%s: %s.args[%zu] must be a string", where, key, i);
            }
            strlist_push(&c->io.args, json_string_value(a));
        }
        json_t *env = json_object_get(ent, "env");
        snprintf(sub, sizeof sub, "%s.env", key);
        if (env && string_map(env, where, sub, "=", &c->io.env, e)) {
            client_free(c);
            return -1;
        }
        json_t *cwd = json_object_get(ent, "cwd");
        if (cwd && (!json_is_string(cwd) || !*json_string_value(cwd))) {
            client_free(c);
            return err_set(e, "%s: %s.cwd must be a folder's path", where, key);
        }
        if (cwd)
            c->io.cwd = xstrdup(json_string_value(cwd));
    }
    add_client(m, c);
    return 0;
}

static mcp_servers *manager_new(void)
{
    mcp_servers *m = xcalloc(1, sizeof *m);
    m->request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
    return m;
}

mcp_servers *mcp_servers_from_json(const json_t *config, const char *where, err_t *e)
{
    if (!where)
        where = "MCP config";
    if (!json_is_object(config)) {
        err_set(e, "%s: the MCP config must be a JSON object with mcpServers", where);
        return NULL;
    }
    json_t *servers = json_object_get(config, "mcpServers");
    json_t *url = json_object_get(config, "mcp_server_url");
    if (!servers && !url) {
        err_set(e, "%s: no mcpServers object (nor an mcp_server_url)", where);
        return NULL;
    }
    mcp_servers *m = manager_new();
    if (servers) {
        if (!json_is_object(servers)) {
            err_set(e, "%s: mcpServers must be an object of named servers", where);
            goto fail;
        }
        if (json_object_size(servers) == 0 && !url) {
            err_set(e, "%s: mcpServers names no server", where);
            goto fail;
        }
        const char *name;
        json_t *ent;
        json_object_foreach((json_t *)servers, name, ent)
        {
            if (parse_entry(m, name, ent, where, e))
                goto fail;
        }
    }
    if (url) {
        if (!json_is_string(url)) {
            err_set(e, "%s: mcp_server_url must be a string", where);
            goto fail;
        }
        if (check_url(json_string_value(url), where, "mcp_server_url", e))
            goto fail;
        for (size_t i = 0; i < m->n; i++)
            if (!strcmp(m->clients[i]->name, "default")) {
                err_set(e,
                        "%s: mcp_server_url names the server 'default', which mcpServers "
                        "already has",
                        where);
                goto fail;
            }
        mcp_client *c = client_new(m, "default");
        c->is_http = 1;
        c->http.url = xstrdup(json_string_value(url));
        add_client(m, c);
    }
    return m;
fail:
    mcp_servers_free(m);
    return NULL;
}

mcp_servers *mcp_servers_load(const char *path, err_t *e)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (je.line <= 0)
            err_set(e, "%s: %s", path, je.text);
        else
            err_set(e, "%s:%d:%d: not valid JSON: %s", path, je.line, je.column, je.text);
        return NULL;
    }
    mcp_servers *m = mcp_servers_from_json(j, path, e);
    json_decref(j);
    return m;
}

void mcp_servers_free(mcp_servers *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        client_free(m->clients[i]);
    free(m->clients);
    free(m);
}

size_t mcp_servers_count(const mcp_servers *m)
{
    return m->n;
}

const char *mcp_servers_name(const mcp_servers *m, size_t i)
{
    return i < m->n ? m->clients[i]->name : NULL;
}

void mcp_servers_set_request_timeout(mcp_servers *m, int timeout_ms)
{
    m->request_timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS;
}

const char *mcp_client_name(const mcp_client *c)
{
    return c->name;
}

const char *mcp_client_protocol_version(const mcp_client *c)
{
    return c->protocol_version;
}

int mcp_client_restarts(const mcp_client *c)
{
    return c->restarts;
}

/* ---- messages ---- */

json_t *client_match_response(json_t *msg, json_t *id)
{
    if (json_is_array(msg)) {
        for (size_t i = 0; i < json_array_size(msg); i++) {
            json_t *r = client_match_response(json_array_get(msg, i), id);
            if (r)
                return r;
        }
        return NULL;
    }
    if (!json_is_object(msg) || !id || json_object_get(msg, "method"))
        return NULL;
    json_t *rid = json_object_get(msg, "id");
    if (!rid || !json_equal(rid, id))
        return NULL;
    if (!json_object_get(msg, "result") && !json_object_get(msg, "error"))
        return NULL;
    return msg;
}

json_t *client_answer_server_request(mcp_client *c, json_t *msg)
{
    if (!json_is_object(msg))
        return NULL;
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *id = json_object_get(msg, "id");
    if (!method) {
        if (id)
            log_debug("MCP server '%s': a response to no request of ours; ignored", c->name);
        return NULL;
    }
    if (!id) {
        if (!strcmp(method, "notifications/message")) {
            json_t *p = json_object_get(msg, "params");
            json_t *data = json_object_get(p, "data");
            char *d = json_is_string(data) ? NULL : json_dumps(data, JSON_COMPACT);
            log_debug("[%s] %s: %s", c->name, json_string_value(json_object_get(p, "level")),
                      json_is_string(data) ? json_string_value(data)
                      : d                  ? d
                                           : "");
            free(d);
        }
        return NULL;
    }
    if (!strcmp(method, "ping"))
        return mcp_result_reply(id, json_object());
    buf_t m;
    buf_init(&m);
    buf_printf(&m, "Method not found: %s", method);
    json_t *r = mcp_error_reply(id, MCP_METHOD_NOT_FOUND, m.data, NULL);
    buf_free(&m);
    return r;
}

/* One request and its response. On an error reply returns RPC_FAIL with
 * *error the error object (a new reference) when error is not NULL. */
static int rpc(mcp_client *c, const char *method, json_t *params, int timeout_ms, json_t **result,
               json_t **error, err_t *e, json_t **sent_id)
{
    *result = NULL;
    if (error)
        *error = NULL;
    json_t *id = json_integer(++c->next_id);
    json_t *req = json_pack("{s:s, s:O, s:s}", "jsonrpc", "2.0", "id", id, "method", method);
    if (params)
        json_object_set(req, "params", params);
    uint64_t deadline = time_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    json_t *resp = NULL;
    int rc;
    if (c->is_http) {
        rc = http_post(c, req, id, deadline, &resp, e);
    } else {
        rc = stdio_send(c, req, e);
        if (rc == RPC_OK)
            rc = stdio_wait(c, id, deadline, &resp, e);
    }
    json_decref(req);
    if (rc == RPC_TIMEOUT)
        err_set(e, "MCP server '%s' did not answer %s within %d ms", c->name, method, timeout_ms);
    if (rc == RPC_DEAD || rc == RPC_GONE)
        c->running = 0;
    if (rc == RPC_OK) {
        json_t *err = json_object_get(resp, "error");
        json_t *res = json_object_get(resp, "result");
        if (err) {
            const char *m = json_string_value(json_object_get(err, "message"));
            err_set(e, "MCP server '%s': %s failed: %s (error %lld)", c->name, method,
                    m ? m : "no message",
                    (long long)json_integer_value(json_object_get(err, "code")));
            if (error)
                *error = json_incref(err);
            rc = RPC_FAIL;
        } else if (!json_is_object(res)) {
            err_set(e, "MCP server '%s': the result of %s is not an object", c->name, method);
            rc = RPC_FAIL;
        } else {
            *result = json_incref(res);
        }
    }
    json_decref(resp);
    if (sent_id)
        *sent_id = id;
    else
        json_decref(id);
    return rc;
}

static int notify(mcp_client *c, const char *method, json_t *params, err_t *e)
{
    json_t *n = mcp_notification(method, params);
    int rc;
    if (c->is_http) {
        json_t *ignore = NULL;
        rc =
            http_post(c, n, NULL, time_now_ns() + (uint64_t)c->mgr->request_timeout_ms * 1000000ull,
                      &ignore, e);
        json_decref(ignore);
    } else {
        rc = stdio_send(c, n, e);
    }
    json_decref(n);
    return rc;
}

static void stop_transport(mcp_client *c)
{
    if (c->is_http)
        http_stop(c);
    else
        stdio_stop(c);
    c->running = 0;
}

/* initialize, check the version, notifications/initialized. */
static int handshake(mcp_client *c, err_t *e)
{
    c->protocol_version[0] = 0;
    json_t *params = json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", MCP_LATEST_VERSION,
                               "capabilities", "clientInfo", "name", "retrain", "version", "0.1.0");
    json_t *res;
    int rc = rpc(c, "initialize", params, c->mgr->request_timeout_ms, &res, NULL, e, NULL);
    json_decref(params);
    if (rc != RPC_OK)
        return rc;
    const char *v = json_string_value(json_object_get(res, "protocolVersion"));
    if (!v || !mcp_version_supported(v)) {
        buf_t m;
        buf_init(&m);
        for (size_t i = 0; i < mcp_protocol_nversions; i++)
            buf_printf(&m, "%s%s", i ? ", " : "", mcp_protocol_versions[i]);
        err_set(e,
                "MCP server '%s' answered protocol version '%s', which retrain does not speak (%s)",
                c->name, v ? v : "(none)", m.data);
        buf_free(&m);
        json_decref(res);
        return RPC_FAIL;
    }
    snprintf(c->protocol_version, sizeof c->protocol_version, "%s", v);
    json_t *info = json_object_get(res, "serverInfo");
    log_debug("MCP server '%s': %s %s, protocol %s", c->name,
              json_string_value(json_object_get(info, "name")),
              json_string_value(json_object_get(info, "version")), v);
    json_decref(res);
    return notify(c, "notifications/initialized", NULL, e);
}

/* Starts (or starts again) and initializes the server; c->lock held. */
static int ensure_running(mcp_client *c, err_t *e)
{
    if (c->running)
        return 0;
    if (c->ever_started) {
        c->restarts++;
        log_warn("MCP server '%s' is gone; starting it again (restart %d)", c->name, c->restarts);
    }
    if (!c->is_http) {
        if (c->io.pid || c->io.in_fd >= 0)
            stdio_stop(c);
        if (stdio_start(c, e) != RPC_OK)
            return -1;
    }
    int rc = handshake(c, e);
    if (rc != RPC_OK) {
        if (rc == RPC_TIMEOUT && !c->is_http)
            err_set(e, "MCP server '%s' did not answer initialize within %d ms%s%s%s", c->name,
                    c->mgr->request_timeout_ms, c->io.garbage[0] ? " (it wrote on stdout: '" : "",
                    c->io.garbage, c->io.garbage[0] ? "')" : "");
        stop_transport(c);
        return -1;
    }
    c->running = 1;
    c->ever_started = 1;
    return 0;
}

/* rpc() on a running server; when the server died (or its HTTP session
 * ended) it is started again and the request sent once more. */
static int rpc_retry(mcp_client *c, const char *method, json_t *params, int timeout_ms,
                     json_t **result, json_t **error, err_t *e, json_t **sent_id)
{
    for (int attempt = 0;; attempt++) {
        if (ensure_running(c, e))
            return RPC_FAIL;
        if (sent_id && *sent_id) {
            json_decref(*sent_id);
            *sent_id = NULL;
        }
        int rc = rpc(c, method, params, timeout_ms, result, error, e, sent_id);
        if ((rc == RPC_DEAD || rc == RPC_GONE) && attempt == 0) {
            log_warn("%s; retrying %s", e->msg, method);
            continue;
        }
        return rc;
    }
}

mcp_client *mcp_client_get(mcp_servers *m, const char *name, err_t *e)
{
    mcp_client *c = NULL;
    for (size_t i = 0; i < m->n && !c; i++)
        if (!name || !strcmp(m->clients[i]->name, name))
            c = m->clients[i];
    if (!c) {
        buf_t b;
        buf_init(&b);
        for (size_t i = 0; i < m->n; i++)
            buf_printf(&b, "%s%s", i ? ", " : "", m->clients[i]->name);
        err_set(e, "no MCP server called '%s' in the config (it has: %s)", name ? name : "",
                b.data ? b.data : "none");
        buf_free(&b);
        return NULL;
    }
    /* Writing to a child that died must give EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_lock(&c->lock);
    int rc = ensure_running(c, e);
    pthread_mutex_unlock(&c->lock);
    return rc ? NULL : c;
}

int mcp_client_ping(mcp_client *c, err_t *e)
{
    pthread_mutex_lock(&c->lock);
    json_t *res;
    int rc = rpc_retry(c, "ping", NULL, c->mgr->request_timeout_ms, &res, NULL, e, NULL);
    json_decref(res);
    pthread_mutex_unlock(&c->lock);
    return rc == RPC_OK ? 0 : -1;
}

/* ---- tools ---- */

static int load_tools(mcp_client *c, err_t *e)
{
    if (c->tools_loaded)
        return 0;
    json_t *all = json_array();
    json_t *cursor = NULL;
    for (int page = 0;; page++) {
        if (page >= MAX_TOOL_PAGES) {
            err_set(e, "MCP server '%s': tools/list goes on for more than %d pages", c->name,
                    MAX_TOOL_PAGES);
            goto fail;
        }
        json_t *params = cursor ? json_pack("{s:O}", "cursor", cursor) : NULL;
        json_t *res;
        int rc =
            rpc_retry(c, "tools/list", params, c->mgr->request_timeout_ms, &res, NULL, e, NULL);
        json_decref(params);
        if (rc != RPC_OK)
            goto fail;
        json_t *tools = json_object_get(res, "tools");
        if (!json_is_array(tools)) {
            err_set(e, "MCP server '%s': the tools/list result has no tools array", c->name);
            json_decref(res);
            goto fail;
        }
        for (size_t i = 0; i < json_array_size(tools); i++) {
            json_t *t = json_array_get(tools, i);
            if (!json_is_string(json_object_get(t, "name"))) {
                err_set(e, "MCP server '%s': tools/list tool %zu has no name", c->name,
                        json_array_size(all));
                json_decref(res);
                goto fail;
            }
            json_array_append(all, t);
        }
        json_t *next = json_object_get(res, "nextCursor");
        if (next && !json_is_null(next) && !json_is_string(next)) {
            err_set(e, "MCP server '%s': tools/list nextCursor is not a string", c->name);
            json_decref(res);
            goto fail;
        }
        if (json_is_string(next) && cursor && json_equal(next, cursor)) {
            err_set(e, "MCP server '%s': tools/list gave the same nextCursor twice", c->name);
            json_decref(res);
            goto fail;
        }
        json_decref(cursor);
        cursor = json_is_string(next) ? json_incref(next) : NULL;
        json_decref(res);
        if (!cursor)
            break;
    }
    c->tools_json = all;
    c->ntools = json_array_size(all);
    c->tools = xcalloc(c->ntools ? c->ntools : 1, sizeof *c->tools);
    for (size_t i = 0; i < c->ntools; i++) {
        json_t *t = json_array_get(all, i);
        mcp_tool *mt = &c->tools[i];
        mt->server = c->name;
        mt->name = json_string_value(json_object_get(t, "name"));
        mt->description = json_string_value(json_object_get(t, "description"));
        if (!mt->description)
            mt->description = "";
        mt->input_schema = json_object_get(t, "inputSchema");
        if (!json_is_object(mt->input_schema)) {
            json_object_set_new(t, "inputSchema", json_pack("{s:s}", "type", "object"));
            mt->input_schema = json_object_get(t, "inputSchema");
        }
        mt->raw = t;
    }
    c->tools_loaded = 1;
    return 0;
fail:
    json_decref(cursor);
    json_decref(all);
    return -1;
}

int mcp_client_tools(mcp_client *c, const mcp_tool **tools, size_t *ntools, err_t *e)
{
    pthread_mutex_lock(&c->lock);
    int rc = load_tools(c, e);
    pthread_mutex_unlock(&c->lock);
    *tools = rc ? NULL : c->tools;
    *ntools = rc ? 0 : c->ntools;
    return rc;
}

void mcp_result_free(mcp_result *r)
{
    if (!r)
        return;
    free(r->text);
    json_decref(r->raw);
    memset(r, 0, sizeof *r);
}

static void local_result(mcp_result *r, const char *text)
{
    r->text = xstrdup(text);
    r->is_error = 1;
    r->raw = NULL;
}

/* The text of a result's content: text items as they are, others named. */
static char *content_text(json_t *content)
{
    buf_t b;
    buf_init(&b);
    for (size_t i = 0; i < json_array_size(content); i++) {
        json_t *it = json_array_get(content, i);
        const char *type = json_string_value(json_object_get(it, "type"));
        const char *text = json_string_value(json_object_get(it, "text"));
        json_t *res = json_object_get(it, "resource");
        if (i)
            buf_putc(&b, '\n');
        if (type && !strcmp(type, "text") && text)
            buf_puts(&b, text);
        else if (type && !strcmp(type, "resource") &&
                 json_string_value(json_object_get(res, "text")))
            buf_puts(&b, json_string_value(json_object_get(res, "text")));
        else if (type && !strcmp(type, "resource_link"))
            buf_printf(&b, "[resource: %s]", json_string_value(json_object_get(it, "uri")));
        else
            buf_printf(&b, "[%s: %s]", type ? type : "content",
                       json_string_value(json_object_get(it, "mimeType"))
                           ? json_string_value(json_object_get(it, "mimeType"))
                           : "no text");
    }
    if (!b.data)
        buf_puts(&b, "");
    return buf_take(&b);
}

static const mcp_tool *find_tool(mcp_client *c, const char *name)
{
    for (size_t i = 0; i < c->ntools; i++)
        if (!strcmp(c->tools[i].name, name))
            return &c->tools[i];
    return NULL;
}

int mcp_client_call_json(mcp_client *c, const char *tool, json_t *args, json_t *meta,
                         int timeout_ms, mcp_result *r, err_t *e)
{
    memset(r, 0, sizeof *r);
    if (timeout_ms <= 0)
        timeout_ms = c->mgr->request_timeout_ms;
    pthread_mutex_lock(&c->lock);
    int ret = -1;
    json_t *params = NULL, *id = NULL;
    buf_t m;
    buf_init(&m);
    if (load_tools(c, e))
        goto done;
    const mcp_tool *t = find_tool(c, tool);
    if (!t) {
        buf_printf(&m, "Unknown tool: %s (this server has:", tool);
        for (size_t i = 0; i < c->ntools; i++)
            buf_printf(&m, "%s %s", i ? "," : "", c->tools[i].name);
        buf_puts(&m, c->ntools ? ")" : " none)");
        local_result(r, m.data);
        ret = 0;
        goto done;
    }
    params = json_pack("{s:s, s:o}", "name", tool, "arguments",
                       args ? json_incref(args) : json_object());
    buf_t why;
    buf_init(&why);
    if (mcp_check_args(t->input_schema, json_object_get(params, "arguments"), &why)) {
        buf_printf(&m, "Invalid arguments for tool %s: %s", tool, why.data);
        local_result(r, m.data);
        buf_free(&why);
        ret = 0;
        goto done;
    }
    buf_free(&why);
    if (meta)
        json_object_set(params, "_meta", meta);
    json_t *res, *error;
    int rc = rpc_retry(c, "tools/call", params, timeout_ms, &res, &error, e, &id);
    if (rc == RPC_TIMEOUT) {
        json_t *cp = json_pack("{s:O, s:s}", "requestId", id, "reason", "time limit reached");
        err_t ignore;
        notify(c, "notifications/cancelled", cp, &ignore);
        buf_printf(&m, "Error: tool %s did not answer within %d ms (the call was cancelled)", tool,
                   timeout_ms);
        local_result(r, m.data);
        ret = 0;
    } else if (rc == RPC_FAIL && error) {
        const char *em = json_string_value(json_object_get(error, "message"));
        buf_printf(&m, "Error calling tool %s: %s", tool, em ? em : "no message");
        local_result(r, m.data);
        json_decref(error);
        ret = 0;
    } else if (rc == RPC_OK) {
        r->text = content_text(json_object_get(res, "content"));
        r->is_error = json_is_true(json_object_get(res, "isError"));
        r->raw = res;
        ret = 0;
    }
done:
    json_decref(id);
    json_decref(params);
    buf_free(&m);
    pthread_mutex_unlock(&c->lock);
    return ret;
}

int mcp_client_call(mcp_client *c, const char *tool, const char *args_json, int timeout_ms,
                    mcp_result *r, err_t *e)
{
    json_t *args = NULL;
    if (args_json && *args_json) {
        json_error_t je;
        args = json_loads(args_json, JSON_DECODE_ANY, &je);
        if (!args) {
            memset(r, 0, sizeof *r);
            buf_t m;
            buf_init(&m);
            buf_printf(&m, "Invalid arguments for tool %s: not valid JSON (%s at column %d)", tool,
                       je.text, je.column);
            local_result(r, m.data);
            buf_free(&m);
            return 0;
        }
    }
    int rc = mcp_client_call_json(c, tool, args, NULL, timeout_ms, r, e);
    json_decref(args);
    return rc;
}

/* ---- tools for prompts ---- */

char *mcp_tools_prompt_json(mcp_servers *m, err_t *e)
{
    json_t *out = json_array();
    for (size_t i = 0; i < m->n; i++) {
        mcp_client *c = mcp_client_get(m, m->clients[i]->name, e);
        const mcp_tool *tools;
        size_t n;
        if (!c || mcp_client_tools(c, &tools, &n, e)) {
            json_decref(out);
            return NULL;
        }
        for (size_t k = 0; k < n; k++)
            json_array_append_new(out, json_pack("{s:s, s:{s:s, s:s, s:O}}", "type", "function",
                                                 "function", "name", tools[k].name, "description",
                                                 tools[k].description, "parameters",
                                                 tools[k].input_schema));
    }
    char *s = mcp_dump(out);
    json_decref(out);
    return s;
}

mcp_client *mcp_tools_find(mcp_servers *m, const char *name, err_t *e)
{
    for (size_t i = 0; i < m->n; i++) {
        mcp_client *c = mcp_client_get(m, m->clients[i]->name, e);
        const mcp_tool *tools;
        size_t n;
        if (!c || mcp_client_tools(c, &tools, &n, e))
            return NULL;
        for (size_t k = 0; k < n; k++)
            if (!strcmp(tools[k].name, name))
                return c;
    }
    err_set(e, "no MCP server has a tool called '%s'", name);
    return NULL;
}

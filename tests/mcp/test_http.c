/* The Streamable HTTP transport, driven over real sockets with libcurl: the
 * server runs in-process on a thread (port 0, on_listening tells the port)
 * over a SQLite file, and each test checks statuses, headers and bodies. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../src/mcp/mcp.h"
#include "../test.h"

/* A query that runs for tens of seconds unless it is interrupted. */
#define LONG_QUERY                                                                                 \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000000) "         \
    "SELECT count(*) FROM c"

/* ---- the server under test ---- */

typedef struct fixture {
    db_conn *conn;
    mcp_server *server;
    mcp_http_options opts;
    pthread_t thread;
    pthread_mutex_t m;
    pthread_cond_t cv;
    int ready, finished, port, rc;
    err_t err;
    char url[64];
} fixture;

static const char *db_path(void)
{
    static char path[4200];
    if (path[0])
        return path;
    snprintf(path, sizeof path, "%s/http.db", test_tmpdir());
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT);"
                     "INSERT INTO items VALUES (1, 'apple'), (2, 'pear'), (3, 'plum');",
                     NULL, NULL, NULL) != SQLITE_OK)
        fprintf(stderr, "cannot create %s: %s\n", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return path;
}

static void on_listening(int port, void *ud)
{
    fixture *f = ud;
    pthread_mutex_lock(&f->m);
    f->port = port;
    f->ready = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->m);
}

static void *serve_main(void *arg)
{
    fixture *f = arg;
    int rc = mcp_http_serve(f->server, &f->opts, &f->err);
    pthread_mutex_lock(&f->m);
    f->rc = rc;
    f->finished = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->m);
    return NULL;
}

/* Starts a server with the options in *o (port and on_listening are set
 * here, host defaults to 127.0.0.1). 0 on success; on failure the test has failed. */
static int fixture_start(fixture *f, const mcp_http_options *o)
{
    memset(f, 0, sizeof *f);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&f->m, NULL);
    pthread_cond_init(&f->cv, NULL);
    char url[4300];
    snprintf(url, sizeof url, "sqlite:///%s", db_path());
    err_t e;
    f->conn = db_new(url, &(db_options){0}, &e);
    if (!f->conn)
        return test_fail(__FILE__, __LINE__, "db_new: %s", e.msg), -1;
    f->server = mcp_server_new("retrain-mcp-db", "test");
    mcp_db_config cfg = {.max_chars = 4000};
    mcp_db_tools_register(f->server, f->conn, &cfg);
    if (o)
        f->opts = *o;
    if (!f->opts.host)
        f->opts.host = "127.0.0.1";
    f->opts.port = 0;
    f->opts.on_listening = on_listening;
    f->opts.ud = f;
    pthread_create(&f->thread, NULL, serve_main, f);
    pthread_mutex_lock(&f->m);
    while (!f->ready && !f->finished)
        pthread_cond_wait(&f->cv, &f->m);
    pthread_mutex_unlock(&f->m);
    if (f->finished) {
        pthread_join(f->thread, NULL);
        mcp_server_free(f->server);
        db_free(f->conn);
        return test_fail(__FILE__, __LINE__, "server did not start: %s", f->err.msg), -1;
    }
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/mcp", f->port);
    return 0;
}

/* Stops the server; returns what mcp_http_serve returned. */
static int fixture_stop(fixture *f)
{
    mcp_http_stop();
    pthread_join(f->thread, NULL);
    mcp_server_free(f->server);
    db_free(f->conn);
    pthread_mutex_destroy(&f->m);
    pthread_cond_destroy(&f->cv);
    return f->rc;
}

/* Runs body against a fresh server and always stops it, even when a CHECK
 * in body returned early. */
static void with_server(const mcp_http_options *o, void (*body)(fixture *))
{
    fixture f;
    if (fixture_start(&f, o) != 0)
        return;
    body(&f);
    int rc = fixture_stop(&f);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "mcp_http_serve returned %d: %s", rc, f.err.msg);
}

/* ---- an HTTP client ---- */

typedef struct reply {
    long status;
    buf_t headers, body;
    double seconds;
    CURLcode cc;
} reply;

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

static void reply_free(reply *r)
{
    buf_free(&r->headers);
    buf_free(&r->body);
}

/* The value of a response header (case-insensitive name), copied into out;
 * NULL if absent. */
static const char *reply_header(const reply *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = r->headers.data; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t vn = (size_t)(eol - v);
            if (vn >= cap)
                vn = cap - 1;
            memcpy(out, v, vn);
            out[vn] = 0;
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

typedef struct request {
    const char *method;        /* default POST when there is a body, else GET */
    const char *path;          /* default /mcp */
    const char *body;
    size_t body_len;           /* default strlen(body) */
    const char *const *headers; /* "Name: value", NULL-terminated */
    long timeout_ms;           /* default 30 s */
} request;

static void http(const fixture *f, const request *q, reply *out)
{
    memset(out, 0, sizeof *out);
    buf_init(&out->headers);
    buf_init(&out->body);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f->port, q->path ? q->path : "/mcp");
    CURL *h = curl_easy_init();
    struct curl_slist *hl = NULL;
    for (const char *const *p = q->headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &out->headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, q->timeout_ms ? q->timeout_ms : 30000L);
    if (q->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(q->body_len ? q->body_len : strlen(q->body)));
    }
    if (q->method)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
    uint64_t t0 = time_now_ns();
    out->cc = curl_easy_perform(h);
    out->seconds = (double)(time_now_ns() - t0) / 1e9;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
}

/* POSTs one JSON message the way SDK clients do; sid and version may be
 * NULL. */
static void post(const fixture *f, const char *sid, const char *version, const char *body,
                 reply *out)
{
    char hs[200], hv[200];
    const char *headers[5] = {"Content-Type: application/json",
                              "Accept: application/json, text/event-stream"};
    size_t n = 2;
    if (sid) {
        snprintf(hs, sizeof hs, "Mcp-Session-Id: %s", sid);
        headers[n++] = hs;
    }
    if (version) {
        snprintf(hv, sizeof hv, "MCP-Protocol-Version: %s", version);
        headers[n++] = hv;
    }
    headers[n] = NULL;
    http(f, &(request){.body = body, .headers = headers}, out);
}

/* initialize (at version) + notifications/initialized; the session id is
 * copied into sid. 0 on success. */
static int open_session(const fixture *f, const char *version, char *sid, size_t cap)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"%s\",\"capabilities\":{},"
             "\"clientInfo\":{\"name\":\"test\",\"version\":\"1\"}}}",
             version);
    reply r;
    post(f, NULL, NULL, body, &r);
    int ok = r.status == 200 && reply_header(&r, "Mcp-Session-Id", sid, cap);
    reply_free(&r);
    if (!ok)
        return -1;
    post(f, sid, version, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r);
    ok = r.status == 202;
    reply_free(&r);
    return ok ? 0 : -1;
}

/* The JSON messages of an SSE body ("data:" lines), as an array. */
static json_t *sse_messages(const char *body)
{
    json_t *all = json_array();
    for (const char *p = body; p && (p = strstr(p, "data: ")); p += 6) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p - 6) : strlen(p + 6);
        json_t *m = json_loadb(p + 6, n, 0, NULL);
        json_array_append_new(all, m ? m : json_string("(not JSON)"));
    }
    return all;
}

static json_t *body_json(const reply *r)
{
    return json_loads(r->body.data ? r->body.data : "", 0, NULL);
}

/* The text of the first content item of a tools/call result. */
static const char *result_text(json_t *msg)
{
    json_t *content = json_object_get(json_object_get(msg, "result"), "content");
    return json_string_value(json_object_get(json_array_get(content, 0), "text"));
}

static json_int_t error_code(json_t *msg)
{
    return json_integer_value(json_object_get(json_object_get(msg, "error"), "code"));
}

static const char *call_query(char *buf, size_t cap, int id, const char *sql, const char *meta)
{
    snprintf(buf, cap,
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"execute_query\",\"arguments\":{\"query\":\"%s\"}%s}}",
             id, sql, meta ? meta : "");
    return buf;
}

/* ---- tests ---- */

static void body_initialize(fixture *f)
{
    reply r;
    post(f, NULL, NULL,
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
         "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
         &r);
    char sid[128], ct[128];
    CHECK(r.status == 200);
    CHECK_STR(reply_header(&r, "Content-Type", ct, sizeof ct), "application/json");
    CHECK(reply_header(&r, "Mcp-Session-Id", sid, sizeof sid));
    CHECK_MSG(strlen(sid) == 32 && strspn(sid, "0123456789abcdef") == 32, "session id '%s'", sid);
    json_t *m = body_json(&r);
    reply_free(&r);
    CHECK_STR(json_string_value(json_object_get(json_object_get(m, "result"), "protocolVersion")),
              "2025-06-18");
    json_decref(m);

    /* Two initializations, two sessions. */
    char sid2[128];
    CHECK(open_session(f, "2025-11-25", sid2, sizeof sid2) == 0);
    CHECK(strcmp(sid, sid2) != 0);

    /* A version the server refuses: an error, and no session. */
    post(f, NULL, NULL,
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
         "\"banana\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
         &r);
    CHECK(r.status == 200);
    CHECK(!reply_header(&r, "Mcp-Session-Id", ct, sizeof ct));
    m = body_json(&r);
    reply_free(&r);
    CHECK(error_code(m) == MCP_INVALID_PARAMS);
    json_decref(m);
}

TEST(http_initialize_creates_session)
{
    with_server(NULL, body_initialize);
}

static void body_list_and_call(fixture *f)
{
    char sid[128], q[512], ct[128];
    CHECK(open_session(f, "2025-06-18", sid, sizeof sid) == 0);
    reply r;
    post(f, sid, "2025-06-18", "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", &r);
    CHECK(r.status == 200);
    CHECK_CONTAINS(r.body.data, "\"execute_query\"");
    CHECK_CONTAINS(r.body.data, "\"all_table_names\"");
    reply_free(&r);

    /* Without MCP-Protocol-Version the version negotiated at initialize holds. */
    post(f, sid, NULL, call_query(q, sizeof q, 3, "SELECT name FROM items WHERE id = 2", NULL),
         &r);
    CHECK(r.status == 200);
    CHECK_STR(reply_header(&r, "Content-Type", ct, sizeof ct), "application/json");
    json_t *m = body_json(&r);
    reply_free(&r);
    CHECK(json_integer_value(json_object_get(m, "id")) == 3);
    CHECK_STR(result_text(m), "1. row\nname: pear\n\nResult: 1 rows");
    json_decref(m);
}

TEST(http_tools_list_and_call_json)
{
    with_server(NULL, body_list_and_call);
}

static void body_progress_sse(fixture *f)
{
    char sid[128], q[512], ct[128];
    CHECK(open_session(f, "2025-06-18", sid, sizeof sid) == 0);
    reply r;
    post(f, sid, "2025-06-18",
         call_query(q, sizeof q, 4, "SELECT count(*) AS n FROM items",
                    ",\"_meta\":{\"progressToken\":\"tok-1\"}"),
         &r);
    CHECK(r.status == 200);
    CHECK_STR(reply_header(&r, "Content-Type", ct, sizeof ct), "text/event-stream");
    CHECK_CONTAINS(r.body.data, "event: message\ndata: {");
    json_t *all = sse_messages(r.body.data);
    reply_free(&r);
    CHECK(json_array_size(all) == 1);
    CHECK_STR(result_text(json_array_get(all, 0)), "1. row\nn: 3\n\nResult: 1 rows");
    json_decref(all);
}

TEST(http_call_sse_with_progress_token)
{
    with_server(NULL, body_progress_sse);
}

static void body_sse_option(fixture *f)
{
    reply r;
    char ct[128], sid[128];
    post(f, NULL, NULL,
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
         "\"2025-03-26\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
         &r);
    CHECK(r.status == 200);
    CHECK_STR(reply_header(&r, "Content-Type", ct, sizeof ct), "text/event-stream");
    CHECK(reply_header(&r, "Mcp-Session-Id", sid, sizeof sid));
    json_t *all = sse_messages(r.body.data);
    reply_free(&r);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(all, 0), "result"),
                                                "protocolVersion")),
              "2025-03-26");
    json_decref(all);

    post(f, sid, NULL, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", &r);
    CHECK(r.status == 200);
    CHECK_STR(reply_header(&r, "Content-Type", ct, sizeof ct), "text/event-stream");
    CHECK_CONTAINS(r.body.data, "\"execute_query\"");
    reply_free(&r);

    /* A batch (2025-03-26) comes back one event per response. */
    post(f, sid, NULL,
         "[{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"},"
         "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}]",
         &r);
    all = sse_messages(r.body.data);
    reply_free(&r);
    CHECK(json_array_size(all) == 2);
    CHECK(json_integer_value(json_object_get(json_array_get(all, 1), "id")) == 6);
    json_decref(all);

    /* Notifications still get 202 and no body. */
    post(f, sid, NULL, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r);
    CHECK(r.status == 202);
    CHECK(r.body.len == 0);
    reply_free(&r);
}

TEST(http_sse_replies_option)
{
    with_server(&(mcp_http_options){.sse_replies = 1}, body_sse_option);
}

static void body_log_stream(fixture *f)
{
    char sid[128], q[512], ct[128];
    CHECK(open_session(f, "2025-06-18", sid, sizeof sid) == 0);
    reply r;
    post(f, sid, "2025-06-18",
         "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"logging/setLevel\",\"params\":{\"level\":"
         "\"debug\"}}",
         &r);
    CHECK(r.status == 200);
    reply_free(&r);
    /* The session asked for log messages: a failing query logs an error,
     * which must reach the client before the result. */
    post(f, sid, "2025-06-18", call_query(q, sizeof q, 3, "SELECT * FROM nowhere", NULL), &r);
    CHECK(r.status == 200);
    CHECK_STR(reply_header(&r, "Content-Type", ct, sizeof ct), "text/event-stream");
    json_t *all = sse_messages(r.body.data);
    reply_free(&r);
    CHECK(json_array_size(all) == 2);
    json_t *note = json_array_get(all, 0);
    CHECK_STR(json_string_value(json_object_get(note, "method")), "notifications/message");
    json_t *params = json_object_get(note, "params");
    CHECK_STR(json_string_value(json_object_get(params, "level")), "error");
    CHECK_CONTAINS(result_text(json_array_get(all, 1)), "no such table: nowhere");
    json_decref(all);
}

TEST(http_log_messages_stream_before_result)
{
    with_server(NULL, body_log_stream);
}

static void body_202(fixture *f)
{
    char sid[128];
    CHECK(open_session(f, "2025-06-18", sid, sizeof sid) == 0);
    reply r;
    /* A response from the client (to nothing we asked) and a notification. */
    post(f, sid, "2025-06-18", "{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}", &r);
    CHECK(r.status == 202);
    CHECK(r.body.len == 0);
    reply_free(&r);
    post(f, sid, "2025-06-18",
         "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/roots/list_changed\"}", &r);
    CHECK(r.status == 202);
    reply_free(&r);
    /* What is neither a request nor an acceptable notification: 400. */
    post(f, sid, "2025-06-18", "{\"jsonrpc\":\"1.0\",\"method\":\"notifications/x\"}", &r);
    CHECK(r.status == 400);
    json_t *m = body_json(&r);
    reply_free(&r);
    CHECK(error_code(m) == MCP_INVALID_REQUEST);
    json_decref(m);
}

TEST(http_notifications_and_responses_get_202)
{
    with_server(NULL, body_202);
}

static void body_header_errors(fixture *f)
{
    char sid[128];
    CHECK(open_session(f, "2025-06-18", sid, sizeof sid) == 0);
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}";
    reply r;

    post(f, NULL, "2025-06-18", ping, &r); /* no session */
    CHECK(r.status == 400);
    CHECK_CONTAINS(r.body.data, "Mcp-Session-Id");
    reply_free(&r);

    post(f, "0123456789abcdef0123456789abcdef", "2025-06-18", ping, &r);
    CHECK(r.status == 404);
    json_t *m = body_json(&r);
    reply_free(&r);
    CHECK(error_code(m) == -32001);
    json_decref(m);

    const char *bad_versions[] = {"1999-01-01", "2099-01-01", "latest"};
    for (size_t i = 0; i < ARRAY_LEN(bad_versions); i++) {
        post(f, sid, bad_versions[i], ping, &r);
        CHECK_MSG(r.status == 400, "version %s: status %ld", bad_versions[i], r.status);
        reply_free(&r);
    }
    post(f, sid, "2025-03-26", ping, &r); /* another version we speak is fine */
    CHECK(r.status == 200);
    reply_free(&r);

    char hs[200];
    snprintf(hs, sizeof hs, "Mcp-Session-Id: %s", sid);
    /* Accept must list both types (wildcards count). */
    const char *json_only[] = {"Content-Type: application/json", "Accept: application/json", hs,
                               NULL};
    http(f, &(request){.body = ping, .headers = json_only}, &r);
    CHECK(r.status == 406);
    reply_free(&r);
    const char *q0[] = {"Content-Type: application/json",
                        "Accept: application/json, text/event-stream;q=0", hs, NULL};
    http(f, &(request){.body = ping, .headers = q0}, &r);
    CHECK(r.status == 406);
    reply_free(&r);
    const char *wild[] = {"Content-Type: application/json", "Accept: */*", hs, NULL};
    http(f, &(request){.body = ping, .headers = wild}, &r);
    CHECK(r.status == 200);
    reply_free(&r);
    const char *typed[] = {"Content-Type: application/json; charset=utf-8",
                           "Accept: text/event-stream, application/json;q=0.9", hs, NULL};
    http(f, &(request){.body = ping, .headers = typed}, &r);
    CHECK(r.status == 200);
    reply_free(&r);
    /* Content-Type must be JSON. */
    const char *text[] = {"Content-Type: text/plain",
                          "Accept: application/json, text/event-stream", hs, NULL};
    http(f, &(request){.body = ping, .headers = text}, &r);
    CHECK(r.status == 415);
    reply_free(&r);
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded",
                          "Accept: application/json, text/event-stream", hs, NULL};
    http(f, &(request){.body = ping, .headers = form}, &r);
    CHECK(r.status == 415);
    reply_free(&r);
}

TEST(http_header_errors)
{
    with_server(NULL, body_header_errors);
}

/* Feeds n bytes of '[' (never valid JSON) to curl. */
typedef struct filler {
    size_t left;
} filler;

static size_t fill(char *p, size_t size, size_t n, void *ud)
{
    filler *fl = ud;
    size_t k = size * n < fl->left ? size * n : fl->left;
    memset(p, '[', k);
    fl->left -= k;
    return k;
}

static long post_big(const fixture *f, size_t n, int chunked)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mcp", f->port);
    CURL *h = curl_easy_init();
    struct curl_slist *hl = NULL;
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Accept: application/json, text/event-stream");
    hl = curl_slist_append(hl, chunked ? "Transfer-Encoding: chunked" : "Expect: 100-continue");
    filler fl = {n};
    buf_t body;
    buf_init(&body);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, fill);
    curl_easy_setopt(h, CURLOPT_READDATA, &fl);
    if (!chunked)
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    buf_free(&body);
    return status;
}

static void body_limit(fixture *f)
{
    /* Announced by Content-Length: refused before the body is sent. */
    long st = post_big(f, (size_t)MCP_MAX_MESSAGE + 1, 0);
    CHECK_MSG(st == 413, "status %ld", st);
    /* Chunked, no length: read to the end, then refused. */
    st = post_big(f, (size_t)MCP_MAX_MESSAGE + 4096, 1);
    CHECK_MSG(st == 413, "status %ld", st);
    /* The server is fine afterwards. */
    char sid[128];
    CHECK(open_session(f, "2025-06-18", sid, sizeof sid) == 0);
}

TEST(http_body_limit_413)
{
    with_server(NULL, body_limit);
}

static void body_malformed(fixture *f)
{
    char sid[128];
    CHECK(open_session(f, "2025-06-18", sid, sizeof sid) == 0);
    static const struct {
        const char *body;
        int code;
    } cases[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":1,", MCP_PARSE_ERROR},
        {"", MCP_PARSE_ERROR},
        {"\xff\xfe{}", MCP_PARSE_ERROR},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"x\":\"\xc3\x28\"}", MCP_PARSE_ERROR},
        {"{\"foo\":1}", MCP_INVALID_REQUEST},
        {"\"hello\"", MCP_INVALID_REQUEST}, /* valid JSON, but not a request */
        {"42", MCP_INVALID_REQUEST},
        {"[1, 2]", MCP_INVALID_REQUEST},
        {"[]", MCP_INVALID_REQUEST},
    };
    reply r;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        post(f, sid, "2025-06-18", cases[i].body, &r);
        json_t *m = body_json(&r);
        CHECK_MSG(r.status == 400 && error_code(m) == cases[i].code,
                  "case %zu: status %ld body %s", i, r.status, r.body.data ? r.body.data : "");
        json_decref(m);
        reply_free(&r);
    }
    /* Nesting deep enough to exhaust a recursive parser. */
    size_t depth = 200000;
    char *deep = xmalloc(depth + 1);
    memset(deep, '[', depth);
    deep[depth] = 0;
    post(f, sid, "2025-06-18", deep, &r);
    free(deep);
    CHECK(r.status == 400);
    reply_free(&r);
    /* A request with a wrong shape is answered with a JSON-RPC error. */
    post(f, sid, "2025-06-18", "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
                               "\"params\":[1]}", &r);
    CHECK(r.status == 200);
    json_t *m = body_json(&r);
    reply_free(&r);
    CHECK(error_code(m) == MCP_INVALID_PARAMS);
    json_decref(m);
    post(f, sid, "2025-06-18", "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"no/such\"}", &r);
    m = body_json(&r);
    reply_free(&r);
    CHECK(error_code(m) == MCP_METHOD_NOT_FOUND);
    json_decref(m);
    /* Still serving. */
    post(f, sid, "2025-06-18", "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}", &r);
    CHECK(r.status == 200);
    reply_free(&r);
}

TEST(http_malformed_messages_400)
{
    with_server(NULL, body_malformed);
}

static void body_batch(fixture *f)
{
    char old[128], cur[128];
    CHECK(open_session(f, "2025-03-26", old, sizeof old) == 0);
    const char *batch = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
                        "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"method\":\"tools/list\"}]";
    reply r;
    post(f, old, "2025-03-26", batch, &r);
    CHECK(r.status == 200);
    json_t *m = body_json(&r);
    reply_free(&r);
    CHECK(json_is_array(m) && json_array_size(m) == 2);
    CHECK(json_integer_value(json_object_get(json_array_get(m, 0), "id")) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(m, 1), "id")), "two");
    json_decref(m);
    /* Only notifications: 202. */
    post(f, old, "2025-03-26",
         "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}]", &r);
    CHECK(r.status == 202);
    reply_free(&r);
    /* initialize never travels in a batch. */
    post(f, old, "2025-03-26",
         "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}]", &r);
    CHECK(r.status == 400);
    reply_free(&r);
    /* From 2025-06-18 on there are no batches. */
    CHECK(open_session(f, "2025-06-18", cur, sizeof cur) == 0);
    post(f, cur, "2025-06-18", batch, &r);
    CHECK(r.status == 400);
    m = body_json(&r);
    reply_free(&r);
    CHECK(error_code(m) == MCP_INVALID_REQUEST);
    json_decref(m);
}

TEST(http_batch_for_2025_03_26_only)
{
    with_server(NULL, body_batch);
}

static void body_delete(fixture *f)
{
    char sid[128], hs[200];
    CHECK(open_session(f, "2025-06-18", sid, sizeof sid) == 0);
    snprintf(hs, sizeof hs, "Mcp-Session-Id: %s", sid);
    const char *with_sid[] = {hs, "MCP-Protocol-Version: 2025-06-18", NULL};
    reply r;
    http(f, &(request){.method = "DELETE", .headers = with_sid}, &r);
    CHECK(r.status == 204);
    reply_free(&r);
    post(f, sid, "2025-06-18", "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", &r);
    CHECK(r.status == 404);
    reply_free(&r);
    http(f, &(request){.method = "DELETE", .headers = with_sid}, &r);
    CHECK(r.status == 404);
    reply_free(&r);
    http(f, &(request){.method = "DELETE"}, &r);
    CHECK(r.status == 400);
    reply_free(&r);
}

TEST(http_delete_session)
{
    with_server(NULL, body_delete);
}

static const char INIT_BODY[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";

static void body_methods(fixture *f)
{
    reply r;
    char allow[128];
    http(f, &(request){.path = "/other"}, &r);
    CHECK(r.status == 404);
    reply_free(&r);
    http(f, &(request){.path = "/other", .body = "{}"}, &r);
    CHECK(r.status == 404);
    reply_free(&r);
    /* the bare server URL is the endpoint too (configs point there) */
    const char *json_hdr[] = {"Content-Type: application/json",
                              "Accept: application/json, text/event-stream", NULL};
    http(f, &(request){.path = "/", .body = INIT_BODY, .headers = json_hdr}, &r);
    CHECK(r.status == 200);
    CHECK_CONTAINS(r.body.data, "\"protocolVersion\"");
    reply_free(&r);
    const char *sse[] = {"Accept: text/event-stream", NULL};
    http(f, &(request){.headers = sse}, &r); /* GET: no standalone stream */
    CHECK(r.status == 405);
    CHECK(reply_header(&r, "Allow", allow, sizeof allow));
    CHECK_CONTAINS(allow, "POST");
    CHECK_CONTAINS(allow, "DELETE");
    reply_free(&r);
    http(f, &(request){.method = "PUT", .body = "{}"}, &r);
    CHECK(r.status == 405);
    CHECK(reply_header(&r, "Allow", allow, sizeof allow));
    reply_free(&r);
    /* A browser's preflight from a local page. */
    const char *pre[] = {"Origin: http://localhost:6274", "Access-Control-Request-Method: POST",
                         NULL};
    http(f, &(request){.method = "OPTIONS", .headers = pre}, &r);
    CHECK(r.status == 204);
    CHECK_STR(reply_header(&r, "Access-Control-Allow-Origin", allow, sizeof allow),
              "http://localhost:6274");
    CHECK(reply_header(&r, "Access-Control-Allow-Headers", allow, sizeof allow));
    CHECK_CONTAINS(allow, "Mcp-Session-Id");
    reply_free(&r);
}

TEST(http_methods_and_paths)
{
    with_server(NULL, body_methods);
}


/* Status of an initialize POST with one extra header. */
static long init_with(const fixture *f, const char *extra)
{
    const char *headers[] = {"Content-Type: application/json",
                             "Accept: application/json, text/event-stream", extra, NULL};
    reply r;
    http(f, &(request){.body = INIT_BODY, .headers = headers}, &r);
    long st = r.status;
    reply_free(&r);
    return st;
}

static void body_origin_host(fixture *f)
{
    static const struct {
        const char *header;
        long status;
    } cases[] = {
        {"Origin: http://evil.example.com", 403},
        {"Origin: null", 403},
        {"Origin: http://localhost.evil.com", 403},
        {"Origin: http://127.0.0.1.nip.io:8000", 403},
        {"Origin: http://localhost@evil.com", 403},
        {"Origin: http://\xff\xfe", 403}, /* quoted back in the error: must stay JSON */
        {"Origin: http://localhost:3000", 200},
        {"Origin: https://127.0.0.1", 200},
        {"Origin: http://[::1]:8080", 200},
        {"Origin: https://app.example.com", 200}, /* --allow-origin */
        {"Origin: https://app.example.com/", 200},
        {"Origin: https://other.example.com", 403},
        {"Host: evil.example.com", 403},
        {"Host: evil.example.com:80", 403},
        {"Host: 10.1.2.3:8000", 403},
        {"Host: localhost", 200},
        {"Host: LOCALHOST:1234", 200},
        {"Host: 127.0.0.1", 200},
        {"Host: [::1]:9", 200},
        {"Host: [::1", 403},
        {"Host: ::1", 403},
        {"Host: localhost:notaport", 403},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        long st = init_with(f, cases[i].header);
        CHECK_MSG(st == cases[i].status, "%s: status %ld, want %ld", cases[i].header, st,
                  cases[i].status);
    }
    /* An accepted browser origin can read the session header. */
    const char *headers[] = {"Content-Type: application/json",
                             "Accept: application/json, text/event-stream",
                             "Origin: http://localhost:3000", NULL};
    reply r;
    char v[256];
    http(f, &(request){.body = INIT_BODY, .headers = headers}, &r);
    CHECK_STR(reply_header(&r, "Access-Control-Allow-Origin", v, sizeof v),
              "http://localhost:3000");
    CHECK(reply_header(&r, "Access-Control-Expose-Headers", v, sizeof v));
    CHECK_CONTAINS(v, "Mcp-Session-Id");
    reply_free(&r);
}

TEST(http_origin_and_host_checks)
{
    static const char *const origins[] = {"https://app.example.com", NULL};
    enum log_level saved = log_get_level();
    log_set_level(LOG_ERROR); /* each refusal logs a warning */
    with_server(&(mcp_http_options){.allowed_origins = origins}, body_origin_host);
    log_set_level(saved);
}

static void body_wildcard(fixture *f)
{
    /* Bound to every interface: clients come by any address, but a name
     * still has to be ours. */
    CHECK(init_with(f, "Host: 10.1.2.3:8000") == 200);
    CHECK(init_with(f, "Host: [fe80::1]:8000") == 200);
    CHECK(init_with(f, "Host: 127.0.0.1") == 200);
    CHECK(init_with(f, "Host: evil.example.com:8000") == 403);
    CHECK(init_with(f, "Host: 10.1.2.3.nip.io") == 403);
}

TEST(http_host_check_when_bound_to_all_interfaces)
{
    enum log_level saved = log_get_level();
    log_set_level(LOG_ERROR);
    with_server(&(mcp_http_options){.host = "0.0.0.0"}, body_wildcard);
    log_set_level(saved);
}

static void body_token(fixture *f)
{
    reply r;
    char v[128];
    const char *none[] = {"Content-Type: application/json",
                          "Accept: application/json, text/event-stream", NULL};
    http(f, &(request){.body = INIT_BODY, .headers = none}, &r);
    CHECK(r.status == 401);
    CHECK(reply_header(&r, "WWW-Authenticate", v, sizeof v));
    CHECK(strncmp(v, "Bearer", 6) == 0);
    reply_free(&r);
    CHECK(init_with(f, "Authorization: Bearer wrong") == 401);
    CHECK(init_with(f, "Authorization: Bearer s3cret-token-x") == 401);
    CHECK(init_with(f, "Authorization: Bearer s3cret-toke") == 401);
    CHECK(init_with(f, "Authorization: Basic czNjcmV0LXRva2Vu") == 401);
    CHECK(init_with(f, "Authorization: Bearer s3cret-token") == 200);
    CHECK(init_with(f, "Authorization: bearer   s3cret-token") == 200);
    /* Every method needs it, not only POST. */
    http(f, &(request){.method = "DELETE"}, &r);
    CHECK(r.status == 401);
    reply_free(&r);
}

TEST(http_bearer_token)
{
    with_server(&(mcp_http_options){.token = "s3cret-token"}, body_token);
}

typedef struct bg_call {
    const fixture *f;
    const char *sid;
    const char *body;
    reply r;
    uint64_t ended;
    long timeout_ms;
    pthread_t t;
} bg_call;

static void *bg_main(void *arg)
{
    bg_call *b = arg;
    char hs[200];
    snprintf(hs, sizeof hs, "Mcp-Session-Id: %s", b->sid);
    const char *headers[] = {"Content-Type: application/json",
                             "Accept: application/json, text/event-stream", hs,
                             "MCP-Protocol-Version: 2025-06-18", NULL};
    http(b->f, &(request){.body = b->body, .headers = headers, .timeout_ms = b->timeout_ms}, &b->r);
    b->ended = time_now_ns();
    return NULL;
}

/* POSTs body on a thread of its own; timeout_ms 0 is curl's 30 s. */
static void bg_start(bg_call *b, const fixture *f, const char *sid, const char *body,
                     long timeout_ms)
{
    memset(b, 0, sizeof *b);
    b->f = f;
    b->sid = sid;
    b->body = body;
    b->timeout_ms = timeout_ms;
    pthread_create(&b->t, NULL, bg_main, b);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void cancel(const fixture *f, const char *sid, const char *id_json)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
             "\"requestId\":%s,\"reason\":\"test\"}}",
             id_json);
    reply r;
    post(f, sid, "2025-06-18", body, &r);
    if (r.status != 202)
        test_fail(__FILE__, __LINE__, "cancel: status %ld", r.status);
    reply_free(&r);
}

static void body_cancel(fixture *f)
{
    char sid[128], q[512];
    CHECK(open_session(f, "2025-06-18", sid, sizeof sid) == 0);
    bg_call b;
    bg_start(&b, f, sid, call_query(q, sizeof q, 7, LONG_QUERY, NULL), 0);
    sleep_ms(300);
    /* A ping on another connection is answered while the query runs. */
    reply r;
    post(f, sid, "2025-06-18", "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}", &r);
    int ping_ok = r.status == 200 && r.seconds < 1.0 && strstr(r.body.data, "\"result\":{}");
    double ping_s = r.seconds;
    reply_free(&r);
    int still_running = b.ended == 0;
    uint64_t t0 = time_now_ns();
    cancel(f, sid, "7");
    pthread_join(b.t, NULL);
    double after = (double)(b.ended - t0) / 1e9;
    char ct[64];
    const char *type = reply_header(&b.r, "Content-Type", ct, sizeof ct);
    int no_result = b.r.body.data == NULL || !strstr(b.r.body.data, "\"result\"");
    long status = b.r.status;
    reply_free(&b.r);
    CHECK_MSG(ping_ok, "ping during the query: %.3f s", ping_s);
    CHECK_MSG(still_running, "the long query ended before it was cancelled");
    CHECK_MSG(after < 3.0, "the call ended %.3f s after its cancellation", after);
    CHECK(status == 200);
    CHECK_STR(type, "text/event-stream");
    CHECK_MSG(no_result, "a cancelled call got a result");

    /* The same over an SSE stream (a progress token asks for one). */
    bg_start(&b, f, sid,
             call_query(q, sizeof q, 8, LONG_QUERY, ",\"_meta\":{\"progressToken\":8}"), 0);
    sleep_ms(300);
    t0 = time_now_ns();
    cancel(f, sid, "8");
    pthread_join(b.t, NULL);
    after = (double)(b.ended - t0) / 1e9;
    no_result = b.r.body.data == NULL || !strstr(b.r.body.data, "\"result\"");
    status = b.r.status;
    reply_free(&b.r);
    CHECK_MSG(after < 3.0, "the stream ended %.3f s after its cancellation", after);
    CHECK(status == 200);
    CHECK_MSG(no_result, "a cancelled call got a result");

    /* The connection is usable again afterwards. */
    post(f, sid, "2025-06-18", call_query(q, sizeof q, 9, "SELECT 1 AS one", NULL), &r);
    json_t *m = body_json(&r);
    reply_free(&r);
    CHECK_STR(result_text(m), "1. row\none: 1\n\nResult: 1 rows");
    json_decref(m);
}

TEST(http_cancel_long_query)
{
    with_server(NULL, body_cancel);
}

static void body_concurrent(fixture *f)
{
    char sid[128];
    CHECK(open_session(f, "2025-06-18", sid, sizeof sid) == 0);
    bg_call b[6];
    for (size_t i = 0; i < ARRAY_LEN(b); i++)
        bg_start(&b[i], f, sid,
                 i % 2 ? "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"
                       : "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
                         "\"name\":\"all_table_names\"}}",
                 0);
    int ok = 1;
    for (size_t i = 0; i < ARRAY_LEN(b); i++) {
        pthread_join(b[i].t, NULL);
        ok &= b[i].r.status == 200 && b[i].r.body.data && strstr(b[i].r.body.data, "\"result\"");
        reply_free(&b[i].r);
    }
    CHECK(ok);
}

TEST(http_concurrent_requests)
{
    with_server(NULL, body_concurrent);
}

/* Opens a TCP connection to the server; -1 on failure. */
static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* A client that gives up on a long call: the server goes on (a
 * disconnection is no cancellation), serves other requests, and a
 * notifications/cancelled stops it. */
static void body_abandon(fixture *f)
{
    char sid[128], q[512];
    CHECK(open_session(f, "2025-06-18", sid, sizeof sid) == 0);
    bg_call b;
    bg_start(&b, f, sid,
             call_query(q, sizeof q, 21, LONG_QUERY, ",\"_meta\":{\"progressToken\":\"t\"}"),
             300);
    pthread_join(b.t, NULL);
    CHECK(b.r.cc == CURLE_OPERATION_TIMEDOUT); /* the client left mid-stream */
    reply_free(&b.r);
    reply r;
    post(f, sid, "2025-06-18", "{\"jsonrpc\":\"2.0\",\"id\":22,\"method\":\"ping\"}", &r);
    CHECK(r.status == 200);
    reply_free(&r);
    cancel(f, sid, "21");
    char q2[512];
    post(f, sid, "2025-06-18", call_query(q2, sizeof q2, 23, "SELECT 2 AS two", NULL), &r);
    CHECK_CONTAINS(r.body.data, "two: 2");
    reply_free(&r);
}

TEST(http_client_disconnects)
{
    with_server(NULL, body_abandon);
    /* Broken and half-sent requests. */
    fixture f;
    if (fixture_start(&f, NULL) != 0)
        return;
    char sid[128];
    int fd;
    const char *partial[] = {
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{\"json",
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX: \x01\x02\xff\r\n\r\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(partial); i++)
        if ((fd = tcp_connect(f.port)) >= 0) {
            send_all(fd, partial[i]);
            close(fd);
        }
    int ok = open_session(&f, "2025-06-18", sid, sizeof sid) == 0;
    int rc = fixture_stop(&f);
    CHECK(ok);
    CHECK(rc == 0);
}

static void body_cap(fixture *f)
{
    char first[128], sid[128];
    CHECK(open_session(f, "2025-06-18", first, sizeof first) == 0);
    for (int i = 0; i < MCP_HTTP_MAX_SESSIONS; i++) {
        reply r;
        post(f, NULL, NULL, INIT_BODY, &r);
        int ok = r.status == 200 && reply_header(&r, "Mcp-Session-Id", sid, sizeof sid);
        reply_free(&r);
        CHECK_MSG(ok, "initialize %d failed", i);
    }
    reply r;
    post(f, first, "2025-06-18", "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", &r);
    CHECK_MSG(r.status == 404, "the oldest idle session should be gone, got %ld", r.status);
    reply_free(&r);
    post(f, sid, "2025-11-25", "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", &r);
    CHECK(r.status == 200);
    reply_free(&r);
}

TEST(http_session_cap_evicts_oldest)
{
    with_server(NULL, body_cap);
}

TEST(http_stop_during_long_query)
{
    fixture f;
    if (fixture_start(&f, NULL) != 0)
        return;
    char sid[128], q[512];
    int ok = open_session(&f, "2025-06-18", sid, sizeof sid) == 0;
    bg_call b;
    bg_start(&b, &f, sid, call_query(q, sizeof q, 5, LONG_QUERY, NULL), 0);
    sleep_ms(300);
    uint64_t t0 = time_now_ns();
    int rc = fixture_stop(&f);
    double stop_s = (double)(time_now_ns() - t0) / 1e9;
    pthread_join(b.t, NULL);
    int no_result = !b.r.body.data || !strstr(b.r.body.data, "\"result\"");
    reply_free(&b.r);
    CHECK(ok);
    CHECK(rc == 0);
    CHECK_MSG(stop_s < 3.0, "stopping took %.3f s", stop_s);
    CHECK(no_result);
}

TEST(http_bind_failure)
{
    /* Hold a port, then ask the server for it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0);
    getsockname(fd, (struct sockaddr *)&a, &al);
    int port = ntohs(a.sin_port);
    mcp_server *s = mcp_server_new("x", "1");
    mcp_http_options o = {.host = "127.0.0.1", .port = port};
    err_t e = {{0}};
    int rc = mcp_http_serve(s, &o, &e);
    close(fd);
    char want[128];
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%d: Address already in use", port);
    mcp_server_free(s);
    CHECK(rc == -1);
    CHECK_STR(e.msg, want);
    o.host = "no-such-host.invalid";
    o.port = 0;
    s = mcp_server_new("x", "1");
    rc = mcp_http_serve(s, &o, &e);
    mcp_server_free(s);
    CHECK(rc == -1);
    CHECK_CONTAINS(e.msg, "cannot listen on no-such-host.invalid:0: ");
}

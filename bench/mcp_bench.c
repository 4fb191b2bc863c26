/* Round-trip latency of MCP tools/call over stdio and Streamable HTTP:
 * `retrain mcp-db` against @bytebase/dbhub on the same SQLite file, with
 * the SQLite library called in-process as the floor.
 *
 *   bench-mcp --db chinook.sqlite [--iters N] [--retrain BIN] [--node NODE
 *             --dbhub DBHUB_JS]
 *
 * Two queries: "SELECT 1" and a 1,000-row result (SELECT * FROM tracks
 * LIMIT 1000, every row printed: EXECUTE_QUERY_MAX_CHARS is raised so
 * nothing is truncated). Each round trip is timed alone; p50 and p99 in
 * microseconds and calls per second (1 / mean) are printed. */
#include <curl/curl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "../src/mcp/mcp.h"
#include "../tests/support/proc.h"

typedef struct stats {
    double p50, p99, mean; /* microseconds */
} stats;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static stats summarize(double *us, int n)
{
    stats s;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += us[i];
    qsort(us, (size_t)n, sizeof *us, cmp_double);
    s.p50 = us[n / 2];
    s.p99 = us[(int)((double)n * 0.99)];
    s.mean = sum / n;
    return s;
}

static void report(const char *what, const char *query, stats s)
{
    printf("%-34s %-10s p50 %9.1f us   p99 %9.1f us   %9.0f calls/s\n", what, query, s.p50, s.p99,
           1e6 / s.mean);
    fflush(stdout);
}

static const char *Q1 = "SELECT 1";
static const char *Q1000 = "SELECT * FROM tracks LIMIT 1000";

/* ---- the floor: the SQLite library in-process ---- */

static stats bench_sqlite(const char *db, const char *sql, int iters)
{
    sqlite3 *h;
    sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL);
    double *us = malloc(sizeof(double) * (size_t)iters);
    size_t sink = 0;
    for (int i = 0; i < iters; i++) {
        uint64_t t0 = time_now_ns();
        sqlite3_stmt *st;
        sqlite3_prepare_v2(h, sql, -1, &st, NULL);
        int nc = sqlite3_column_count(st);
        while (sqlite3_step(st) == SQLITE_ROW)
            for (int c = 0; c < nc; c++) {
                const unsigned char *t = sqlite3_column_text(st, c);
                sink += t ? t[0] : 0;
            }
        sqlite3_finalize(st);
        us[i] = (double)(time_now_ns() - t0) / 1e3;
    }
    sqlite3_close(h);
    stats s = summarize(us, iters);
    free(us);
    if (sink == 42)
        printf(" ");
    return s;
}

/* ---- the same through retrain's tool layer, in-process ---- */

static stats bench_tool_inprocess(const char *db, const char *sql, int iters)
{
    char url[4300];
    snprintf(url, sizeof url, "sqlite:///%s", db);
    db_options o = {.read_only = 1};
    err_t e;
    db_conn *c = db_new(url, &o, &e);
    mcp_db_config cfg = {.max_chars = 10000000};
    double *us = malloc(sizeof(double) * (size_t)iters);
    buf_t out;
    buf_init(&out);
    for (int i = 0; i < iters; i++) {
        uint64_t t0 = time_now_ns();
        buf_reset(&out);
        mcp_db_execute_query_text(c, &cfg, sql, NULL, &out);
        us[i] = (double)(time_now_ns() - t0) / 1e3;
    }
    buf_free(&out);
    db_free(c);
    stats s = summarize(us, iters);
    free(us);
    return s;
}

/* ---- stdio ---- */

static char *call_json(const char *tool, const char *argname, const char *sql, int id)
{
    json_t *m = json_pack("{s:s, s:i, s:s, s:{s:s, s:{s:s}}}", "jsonrpc", "2.0", "id", id, "method",
                          "tools/call", "params", "name", tool, "arguments", argname, sql);
    char *s = mcp_dump(m);
    json_decref(m);
    return s;
}

static const char *INIT = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                          "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{"
                          "\"name\":\"bench\",\"version\":\"1\"}}}";
static const char *INITIALIZED = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";

static int stdio_rt(child_t *c, const char *msg, size_t *bytes)
{
    if (child_send(c, msg) != 0)
        return -1;
    char *line = child_read_line(c, 30000);
    if (!line)
        return -1;
    if (bytes)
        *bytes = strlen(line);
    int ok = strstr(line, "\"result\"") != NULL;
    free(line);
    return ok ? 0 : -1;
}

static int bench_stdio(child_t *c, const char *tool, const char *argname, const char *sql, int iters,
                       stats *out)
{
    double *us = malloc(sizeof(double) * (size_t)iters);
    char *msg = call_json(tool, argname, sql, 7);
    size_t bytes = 0;
    for (int i = 0; i < iters / 10 + 5; i++) /* warm-up */
        if (stdio_rt(c, msg, &bytes) != 0) {
            free(msg);
            free(us);
            return -1;
        }
    for (int i = 0; i < iters; i++) {
        uint64_t t0 = time_now_ns();
        if (stdio_rt(c, msg, NULL) != 0) {
            free(msg);
            free(us);
            return -1;
        }
        us[i] = (double)(time_now_ns() - t0) / 1e3;
    }
    free(msg);
    *out = summarize(us, iters);
    free(us);
    return 0;
}

/* Throughput: requests written back to back by a second thread while
 * this one reads the replies, so neither side waits for the other's
 * wake-up; calls per second over the whole batch. */
typedef struct feeder {
    child_t *c;
    const char *msg;
    int n;
} feeder;

static void *feed(void *arg)
{
    feeder *f = arg;
    size_t len = strlen(f->msg);
    char *line = xmalloc(len + 2);
    memcpy(line, f->msg, len);
    line[len] = '\n';
    for (int i = 0; i < f->n; i++)
        if (child_write(f->c, line, len + 1) != 0)
            break;
    free(line);
    return NULL;
}

static double bench_stdio_pipelined(child_t *c, const char *tool, const char *argname,
                                    const char *sql, int n)
{
    char *msg = call_json(tool, argname, sql, 9);
    feeder f = {c, msg, n};
    pthread_t t;
    uint64_t t0 = time_now_ns();
    pthread_create(&t, NULL, feed, &f);
    int got = 0;
    for (; got < n; got++) {
        char *line = child_read_line(c, 30000);
        if (!line)
            break;
        free(line);
    }
    pthread_join(t, NULL);
    double secs = (double)(time_now_ns() - t0) / 1e9;
    free(msg);
    return got == n ? n / secs : 0;
}

static int start_stdio(child_t *c, char *const argv[], char *const env[])
{
    if (child_start(c, argv, env) != 0)
        return -1;
    if (stdio_rt(c, INIT, NULL) != 0)
        return -1;
    return child_send(c, INITIALIZED);
}

/* ---- HTTP (libcurl, one kept-alive connection) ---- */

typedef struct http_client {
    CURL *curl;
    char url[256];
    char session[128];
    buf_t body;
} http_client;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    http_client *h = ud;
    size_t len = size * n;
    if (len > 15 && strncasecmp(p, "mcp-session-id:", 15) == 0) {
        const char *v = p + 15;
        while (*v == ' ')
            v++;
        size_t k = 0;
        while (v + k < p + len && v[k] != '\r' && v[k] != '\n' && k < sizeof h->session - 1)
            k++;
        memcpy(h->session, v, k);
        h->session[k] = 0;
    }
    return len;
}

static int http_post(http_client *h, const char *msg)
{
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Accept: application/json, text/event-stream");
    hdr = curl_slist_append(hdr, "MCP-Protocol-Version: 2025-06-18");
    char sh[200];
    if (h->session[0]) {
        snprintf(sh, sizeof sh, "Mcp-Session-Id: %s", h->session);
        hdr = curl_slist_append(hdr, sh);
    }
    buf_reset(&h->body);
    curl_easy_setopt(h->curl, CURLOPT_URL, h->url);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, msg);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &h->body);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
    CURLcode rc = curl_easy_perform(h->curl);
    curl_slist_free_all(hdr);
    long status = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    return rc == CURLE_OK && status < 300 ? 0 : -1;
}

static int http_connect(http_client *h, int port, const char *path)
{
    memset(h, 0, sizeof *h);
    h->curl = curl_easy_init();
    buf_init(&h->body);
    snprintf(h->url, sizeof h->url, "http://127.0.0.1:%d%s", port, path);
    for (int tries = 0; tries < 200; tries++) {
        if (http_post(h, INIT) == 0 && strstr(h->body.data ? h->body.data : "", "protocolVersion"))
            return http_post(h, INITIALIZED);
        usleep(50000);
    }
    return -1;
}

static int bench_http(http_client *h, const char *tool, const char *argname, const char *sql,
                      int iters, stats *out)
{
    double *us = malloc(sizeof(double) * (size_t)iters);
    char *msg = call_json(tool, argname, sql, 7);
    for (int i = 0; i < iters / 10 + 5; i++)
        if (http_post(h, msg) != 0 || !strstr(h->body.data, "\"result\"")) {
            fprintf(stderr, "HTTP call failed: %.300s\n", h->body.data ? h->body.data : "");
            free(msg);
            free(us);
            return -1;
        }
    for (int i = 0; i < iters; i++) {
        uint64_t t0 = time_now_ns();
        if (http_post(h, msg) != 0) {
            free(msg);
            free(us);
            return -1;
        }
        us[i] = (double)(time_now_ns() - t0) / 1e3;
    }
    free(msg);
    *out = summarize(us, iters);
    free(us);
    return 0;
}

static void http_close(http_client *h)
{
    curl_easy_cleanup(h->curl);
    buf_free(&h->body);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int main(int argc, char **argv)
{
    const char *db = NULL, *bin = "./retrain", *node = NULL, *dbhub = NULL;
    int iters = 2000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[++i];
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--retrain") && i + 1 < argc)
            bin = argv[++i];
        else if (!strcmp(argv[i], "--node") && i + 1 < argc)
            node = argv[++i];
        else if (!strcmp(argv[i], "--dbhub") && i + 1 < argc)
            dbhub = argv[++i];
        else {
            fprintf(stderr, "usage: bench-mcp --db FILE [--iters N] [--retrain BIN] [--node NODE "
                            "--dbhub DBHUB_JS]\n");
            return 2;
        }
    }
    if (!db || iters < 10) {
        fprintf(stderr, "bench-mcp: --db FILE is required (and --iters >= 10)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    log_set_level(LOG_ERROR);
    int slow = iters / 10 > 10 ? iters / 10 : 10; /* fewer runs of the 1,000-row query */
    stats s;

    printf("# %d round trips (SELECT 1), %d (1,000 rows); database %s\n", iters, slow, db);
    report("sqlite3 library, in-process", "SELECT 1", bench_sqlite(db, Q1, iters));
    report("sqlite3 library, in-process", "1000 rows", bench_sqlite(db, Q1000, slow));
    report("retrain tool layer, in-process", "SELECT 1", bench_tool_inprocess(db, Q1, iters));
    report("retrain tool layer, in-process", "1000 rows", bench_tool_inprocess(db, Q1000, slow));

    /* The floor of any stdio server: a line echoed by cat, two process
     * wake-ups and no work. */
    {
        child_t cat;
        char *argv_cat[] = {"/bin/cat", NULL};
        if (child_start(&cat, argv_cat, NULL) == 0) {
            double *us = malloc(sizeof(double) * (size_t)iters);
            char *line;
            for (int i = 0; i < iters; i++) {
                uint64_t t0 = time_now_ns();
                child_send(&cat, INIT);
                line = child_read_line(&cat, 5000);
                free(line);
                us[i] = (double)(time_now_ns() - t0) / 1e3;
            }
            report("pipe echo through cat (floor)", "one line", summarize(us, iters));
            free(us);
            child_close_stdin(&cat);
            child_wait(&cat, 5000);
        }
    }

    char url[4300];
    snprintf(url, sizeof url, "DB_URL=sqlite:///%s", db);
    char *env[] = {url, "EXECUTE_QUERY_MAX_CHARS=10000000", "MCP_DB_READ_ONLY=1", NULL};
    child_t c;
    char *argv_stdio[] = {(char *)bin, "mcp-db", NULL};
    double r_stdio1 = 0, r_http1 = 0, d_stdio1 = 0, d_http1 = 0, r_pipe1 = 0, d_pipe1 = 0;
    if (start_stdio(&c, argv_stdio, env) == 0) {
        if (bench_stdio(&c, "execute_query", "query", Q1, iters, &s) == 0)
            report("retrain mcp-db, stdio", "SELECT 1", s), r_stdio1 = s.mean;
        if (bench_stdio(&c, "execute_query", "query", Q1000, slow, &s) == 0)
            report("retrain mcp-db, stdio", "1000 rows", s);
        r_pipe1 = bench_stdio_pipelined(&c, "execute_query", "query", Q1, iters * 5);
        printf("%-34s %-10s pipelined: %9.0f calls/s\n", "retrain mcp-db, stdio", "SELECT 1", r_pipe1);
        child_close_stdin(&c);
        child_wait(&c, 5000);
    } else {
        fprintf(stderr, "could not start %s mcp-db\n", bin);
    }

    int port = free_port();
    char hostport[64];
    snprintf(hostport, sizeof hostport, "127.0.0.1:%d", port);
    char *argv_http[] = {(char *)bin, "mcp-db", "--http", hostport, NULL};
    if (child_start(&c, argv_http, env) == 0) {
        http_client h;
        if (http_connect(&h, port, "/mcp") == 0) {
            if (bench_http(&h, "execute_query", "query", Q1, iters, &s) == 0)
                report("retrain mcp-db, HTTP", "SELECT 1", s), r_http1 = s.mean;
            if (bench_http(&h, "execute_query", "query", Q1000, slow, &s) == 0)
                report("retrain mcp-db, HTTP", "1000 rows", s);
        } else {
            fprintf(stderr, "retrain HTTP server did not answer on %s\n", hostport);
        }
        http_close(&h);
        child_kill(&c);
    }

    if (node && dbhub) {
        char dsn[4300];
        snprintf(dsn, sizeof dsn, "sqlite://%s", db); /* dbhub: sqlite:///abs/path */
        char *argv_hub[] = {(char *)node, (char *)dbhub, "--transport", "stdio", "--dsn", dsn, NULL};
        int dbhub_iters = iters / 4 > 50 ? iters / 4 : 50;
        int dbhub_slow = slow / 2 > 10 ? slow / 2 : 10;
        if (start_stdio(&c, argv_hub, NULL) == 0) {
            if (bench_stdio(&c, "execute_sql", "sql", Q1, dbhub_iters, &s) == 0)
                report("@bytebase/dbhub, stdio", "SELECT 1", s), d_stdio1 = s.mean;
            if (bench_stdio(&c, "execute_sql", "sql", Q1000, dbhub_slow, &s) == 0)
                report("@bytebase/dbhub, stdio", "1000 rows", s);
            d_pipe1 = bench_stdio_pipelined(&c, "execute_sql", "sql", Q1, dbhub_iters * 5);
            printf("%-34s %-10s pipelined: %9.0f calls/s\n", "@bytebase/dbhub, stdio", "SELECT 1",
                   d_pipe1);
            child_close_stdin(&c);
            child_wait(&c, 5000);
        } else {
            fprintf(stderr, "could not start dbhub over stdio\n");
        }
        int hport = free_port();
        char ps[16];
        snprintf(ps, sizeof ps, "%d", hport);
        char *argv_hub_http[] = {(char *)node, (char *)dbhub, "--transport", "http", "--port", ps,
                                 "--dsn", dsn, NULL};
        if (child_start(&c, argv_hub_http, NULL) == 0) {
            http_client h;
            if (http_connect(&h, hport, "/mcp") == 0) {
                if (bench_http(&h, "execute_sql", "sql", Q1, dbhub_iters, &s) == 0)
                    report("@bytebase/dbhub, HTTP", "SELECT 1", s), d_http1 = s.mean;
                if (bench_http(&h, "execute_sql", "sql", Q1000, dbhub_slow, &s) == 0)
                    report("@bytebase/dbhub, HTTP", "1000 rows", s);
            } else {
                fprintf(stderr, "dbhub HTTP server did not answer on port %d\n", hport);
            }
            http_close(&h);
            child_kill(&c);
        }
    }
    if (r_stdio1 > 0 && d_stdio1 > 0)
        printf("# SELECT 1 calls/s, retrain / dbhub: stdio one at a time %.1fx", d_stdio1 / r_stdio1);
    if (r_pipe1 > 0 && d_pipe1 > 0)
        printf(", stdio pipelined %.1fx", r_pipe1 / d_pipe1);
    if (r_http1 > 0 && d_http1 > 0)
        printf(", HTTP one at a time %.1fx", d_http1 / r_http1);
    printf("\n");
    curl_global_cleanup();
    return 0;
}
